"""``odonto-desk sandbox``: run the reference server on its own, and its admin commands."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sandbox", help="run the reference Apex Odonto server",
                       description="Run the reference Apex Odonto server (FHIR R4 + /odonto/v1) on SQLite.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--db", default="apex-sandbox.sqlite", help="SQLite file (created if missing)")
    p.add_argument("--no-demo", action="store_true", help="do not seed the demo patients into a new database")
    p.set_defaults(func=run)


def banner(base_url: str) -> str:
    from odonto_desk.sandbox.auth import demo_clients

    lines = [
        "Apex Odonto reference server",
        f"  FHIR R4 base     {base_url}/fhir",
        f"  Operational API  {base_url}/odonto/v1",
        f"  Token endpoint   {base_url}/oauth/token   (grant_type=client_credentials)",
        f"  Webhooks         {base_url}/webhooks",
        f"  Status           {base_url}/status",
        f"  OpenAPI          {base_url}/odonto/v1/openapi.yaml",
        "",
        "Demo clients (client_id / client_secret / API key):",
    ]
    for c in demo_clients():
        lines.append(f"  {c.role:<11} {c.client_id:<18} {c.secret:<30} {c.api_key}")
    lines += ["", "Example:", f"  curl -s -d grant_type=client_credentials -d client_id=demo-dentist "
              f"-d client_secret=sandbox-secret-dentist {base_url}/oauth/token"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from odonto_desk.sandbox.app import ServerConfig, create_server
    from odonto_desk.sandbox.runner import free_port

    port = args.port or free_port(args.host)
    server = create_server(ServerConfig(db_path=args.db))
    if not args.no_demo:
        from odonto_desk.sandbox.seed import seed_demo_if_empty

        seed_demo_if_empty(server)
    print(banner(f"http://{args.host}:{port}"), flush=True)
    for hook in server.on_startup:
        hook()
    try:
        uvicorn.run(server.app, host=args.host, port=port, log_level="info", lifespan="off")
    finally:
        for hook in server.on_shutdown:
            hook()
        server.store.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
