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
    p.add_argument("--bulk-patients", type=int, default=0, metavar="N",
                   help="also generate N synthetic patients (for benchmarks): visits, charts, treatment plans and "
                   "adults' perio exams, ~200 resources each on average; deterministic, and a rerun on the same "
                   "database adds only the patients it lacks")
    p.set_defaults(func=run)

    admin = sub.add_parser("sandbox-admin", help="the reference server's admin commands (retention, audit)",
                           description="Admin commands on a reference server's SQLite file.")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ADMIN_COMMAND", required=True)
    purge = admin_sub.add_parser(
        "purge", help="purge patients past the 7-year retention horizon (audited)",
        description="Purge every version of a patient's records once 7 years have passed since their last "
        "encounter. Patients inside the horizon are refused and nothing of theirs is touched.")
    purge.add_argument("--db", required=True, help="the server's SQLite file")
    who = purge.add_mutually_exclusive_group(required=True)
    who.add_argument("--patient", action="append", metavar="ID", help="a Patient id (repeatable)")
    who.add_argument("--expired", action="store_true", help="every patient past the horizon")
    purge.add_argument("--dry-run", action="store_true", help="say what would be purged; change nothing")
    purge.add_argument("--today", type=_iso_date, help="the date to count from (default: today, UTC)")
    purge.add_argument("--actor", default="admin-cli", help="who is purging (written to the audit trail)")
    purge.set_defaults(func=run_purge)
    audit = admin_sub.add_parser("audit", help="verify the audit trail's hash chain",
                                 description="Walk the audit trail and report the first row that was altered.")
    audit.add_argument("--db", required=True, help="the server's SQLite file")
    audit.set_defaults(func=run_audit)


def _iso_date(text: str):  # type: ignore[no-untyped-def]
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _open(db: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from odonto_desk.sandbox.audit import AuditTrail
    from odonto_desk.sandbox.fhirstore import FhirStore

    if not Path(db).is_file():
        raise SystemExit(f"odonto-desk: {db}: no such database")
    store = FhirStore(db)
    return store, AuditTrail(store)


def run_purge(args: argparse.Namespace) -> int:
    import datetime as dt

    from odonto_desk.sandbox.retention import RetentionRefused, expired_patients, purge_patient

    store, audit = _open(args.db)
    today = args.today or dt.datetime.now(dt.UTC).date()
    ids = args.patient or [r.patient for r in expired_patients(store, today=today)]
    refused = 0
    try:
        for pid in ids:
            try:
                report = purge_patient(store, audit, pid, today=today, actor=args.actor, dry_run=args.dry_run)
            except RetentionRefused as exc:
                print(f"refused: {exc}", file=sys.stderr)
                refused += 1
                continue
            verb = "purged" if report.purged else "would purge"
            print(f"{verb} Patient/{pid}: {len(report.resources)} resources ({report.anchor_kind} "
                  f"{report.anchor.isoformat()}, horizon {report.horizon.isoformat()})")
        if not ids:
            print("no patient is past the retention horizon")
    finally:
        store.close()
    return 3 if refused else 0


def run_audit(args: argparse.Namespace) -> int:
    from odonto_desk.sandbox.audit import verify

    store, _ = _open(args.db)
    try:
        rows = store.connection.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
        bad = verify(store.connection)
    finally:
        store.close()
    if bad is not None:
        print(f"audit trail altered at row {bad} (of {rows})", file=sys.stderr)
        return 4
    print(f"audit trail intact: {rows} rows")
    return 0


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
    if args.bulk_patients:
        from odonto_desk.sandbox.bulk import generate
        from odonto_desk.sandbox.chart_api import warm_chart_marks

        n = generate(server.store, patients=args.bulk_patients)
        warm_chart_marks(server.store)  # the demo's marks; the generated ones come with theirs
        print(f"generated {n} resources for {args.bulk_patients} synthetic patients", flush=True)
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
