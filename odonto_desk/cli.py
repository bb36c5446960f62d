"""The ``odonto-desk`` command: the app by default, and the command-line tools.

Imports are lazy: ``odonto-desk perio classify`` never loads Qt, and the app does not load the
command-line tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: the commands import what they use when they run
    from odonto_desk.api.auth import Credentials
    from odonto_desk.store.sync import SyncReport


def _run_app(args: argparse.Namespace) -> int:
    from odonto_desk.app import run

    if args.smoke_test is not None:
        return run(sys.argv[:1], smoke_png=args.smoke_test, smoke_timeout=args.smoke_timeout)
    return run(sys.argv[:1])


def _perio_classify(args: argparse.Namespace) -> int:
    from odonto_desk.domain.classification import classify_json
    from odonto_desk.domain.errors import DomainError

    try:
        if args.case == "-":
            text = sys.stdin.read()
        else:
            with open(args.case, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        print(f"odonto-desk: cannot read {args.case}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")  # the reasons use ≥ and →, which cp1252 lacks
        print(classify_json(text))
    except DomainError as exc:
        print(f"odonto-desk: {args.case}: {exc}", file=sys.stderr)
        return 2
    return 0


# --- sync and export ---------------------------------------------------------------------------------


class _Refused(Exception):
    """A command-line sync that cannot start; the message is for the user (never a secret)."""


def _credentials(args: argparse.Namespace) -> Credentials:
    """Flags first, then the secret store under the server URL (demo clients only for a loopback server)."""
    from odonto_desk.api.auth import ApiKey, ClientCredentials, NoAuth, StaticToken

    if args.token:
        return StaticToken(args.token)
    if args.api_key:
        return ApiKey(args.api_key)
    if args.server is None:
        return NoAuth()  # a plain FHIR server with no credentials
    if args.client_id or args.client_secret:
        if not (args.client_id and args.client_secret):
            raise _Refused("give both --client-id and --client-secret")
        return ClientCredentials.for_role(f"{args.server.rstrip('/')}/oauth/token", args.client_id,
                                          args.client_secret, args.role.replace("-", "_"))
    from odonto_desk.services.session import CredentialsMissing, Role, Server, credentials_for
    from odonto_desk.store.secrets import SecretStoreError

    try:
        return credentials_for(Server(args.server.rstrip("/")), Role(args.role))
    except CredentialsMissing as exc:
        raise _Refused(f"{exc}; give --client-id/--client-secret, --api-key or --token") from None
    except SecretStoreError as exc:
        raise _Refused(f"cannot read the secret store: {exc}") from None


def _summary(report: SyncReport, seconds: float) -> dict[str, object]:
    push, pull = report.push, report.pull
    return {
        "pushed": push.confirmed,
        "pulled": pull.stored if pull else 0,
        "conflicts": len(push.conflicts) + (len(pull.conflicts) if pull else 0),
        "errors": len(push.rejected) + (len(pull.skipped) if pull else 0),
        "seconds": round(seconds, 3),
    }


def _quiet_library_warnings() -> None:
    """The engine logs what it skips; the command reports the same on stderr itself, once."""
    import logging

    logger = logging.getLogger("odonto_desk")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _sync(args: argparse.Namespace) -> int:
    import sqlite3
    import time

    from odonto_desk.api.client import ApexClient
    from odonto_desk.fhir.validate import ODONTO_TYPES
    from odonto_desk.store.cache import Cache, StoreError
    from odonto_desk.store.sync import TYPES, SyncEngine

    if args.server is None and args.fhir_base is None:
        print("odonto-desk sync: give --server URL (an Apex server) or --fhir-base URL (any FHIR R4 server)",
              file=sys.stderr)
        return 2
    _quiet_library_warnings()
    started = time.perf_counter()
    try:
        client = ApexClient(args.server, fhir_base=args.fhir_base, credentials=_credentials(args), retries=2,
                            timeout=args.timeout)
        with client, Cache(args.cache) as cache:
            # A plain FHIR server gets the 16 FHIR types; an Apex server also its lab-order Tasks.
            types = TYPES if args.server else ODONTO_TYPES
            report = SyncEngine(cache, client, types=types).run_once()
    except _Refused as exc:
        print(f"odonto-desk sync: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.Error, StoreError, OSError, RuntimeError) as exc:
        print(f"odonto-desk sync: cannot use the cache {args.cache}: {exc}", file=sys.stderr)
        return 1
    summary = _summary(report, time.perf_counter() - started)
    stopped = report.push.stopped or (report.pull.stopped if report.pull else None)
    for rtype, rid, message in report.push.rejected:
        print(f"odonto-desk sync: the server refused {rtype}/{rid}: {message}", file=sys.stderr)
    for rtype, rid, reason in report.pull.skipped if report.pull else ():
        print(f"odonto-desk sync: skipped {rtype} {rid}: {reason}", file=sys.stderr)
    for rtype, rid in [*report.push.conflicts, *(report.pull.conflicts if report.pull else ())]:
        print(f"odonto-desk sync: conflict on {rtype}/{rid} (changed here and on the server; resolve it in the app)",
              file=sys.stderr)
    print(json.dumps({**summary, "ok": stopped is None}))
    if stopped:
        print(f"odonto-desk sync: stopped: {stopped}", file=sys.stderr)
        return 1
    return 0


def _export(args: argparse.Namespace) -> int:
    import getpass
    import sqlite3
    from pathlib import Path

    from odonto_desk.store.cache import Cache
    from odonto_desk.store.export import ExportError, export_cache

    if not Path(args.cache).is_file():
        print(f"odonto-desk export: {args.cache}: no such cache file", file=sys.stderr)
        return 1
    try:
        with Cache(args.cache) as cache:
            report = export_cache(cache, args.out, user=args.user or getpass.getuser(), role=args.role)
    except ExportError as exc:
        print(f"odonto-desk export: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        print(f"odonto-desk export: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(report.out), "resources": sum(report.server.values()),
                      "local": sum(report.local.values()), "skipped": len(report.skipped)}))
    return 0


def _forget_pin(args: argparse.Namespace) -> int:
    from odonto_desk.services.pins import PinStore
    from odonto_desk.store.secrets import SecretStoreError

    try:
        forgot = PinStore().forget(args.user)
    except SecretStoreError as exc:
        print(f"odonto-desk forget-pin: {exc}", file=sys.stderr)
        return 1
    if not forgot:
        print(f"odonto-desk forget-pin: {args.user!r} has no unlock PIN on this computer", file=sys.stderr)
        return 1
    print(f"The unlock PIN of {args.user} is removed; they unlock by name until they set a new one.")
    return 0


def _add_sync_and_export(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sync = sub.add_parser(
        "sync", help="push the outbox, then pull everything into a cache file, and print a JSON summary",
        description="Push the cache's queued edits, then pull every change from the server, and print "
        '{"pushed", "pulled", "conflicts", "errors", "seconds", "ok"} as one line of JSON. Exit 1 when the '
        "server cannot be reached or refuses the credentials. Credentials not given are looked up in the "
        "secret store under the server URL; for a loopback server (127.0.0.1, localhost, ::1) with none "
        "stored, the reference server's demo client of --role is used.")
    sync.add_argument("--server", metavar="URL", help="an Apex server (FHIR at URL/fhir, /odonto/v1, OAuth)")
    sync.add_argument("--fhir-base", metavar="URL",
                      help="the FHIR R4 base; alone (no --server): any FHIR R4 server, open or with --token")
    sync.add_argument("--cache", required=True, metavar="PATH", help="the cache file (created if missing)")
    creds = sync.add_mutually_exclusive_group()
    creds.add_argument("--client-id", metavar="ID", help="OAuth2 client id (with --client-secret)")
    sync.add_argument("--client-secret", metavar="S", help="OAuth2 client secret")
    creds.add_argument("--api-key", metavar="K", help="an Apex API key")
    creds.add_argument("--token", metavar="T", help="a bearer token")
    sync.add_argument("--role", default="dentist", choices=("dentist", "hygienist", "front-desk"),
                      help="whose scopes to ask for (default dentist)")
    sync.add_argument("--timeout", type=float, default=15.0, metavar="S", help="per-request timeout in seconds")
    sync.set_defaults(func=_sync)

    export = sub.add_parser(
        "export", help="write a cache file out as FHIR JSON files, exactly as the server sent them",
        description="Write DIR/<Type>/<id>.json (the server's bytes as received), DIR/_local/<Type>/<id>.json "
        "(edits not yet confirmed by the server) and DIR/manifest.json. DIR must be new or empty. "
        "The export is recorded in the cache's audit trail.")
    export.add_argument("--cache", required=True, metavar="PATH", help="the cache file")
    export.add_argument("--out", required=True, metavar="DIR", help="the directory to write (new or empty)")
    export.add_argument("--user", help="who exports, for the audit trail (default: the login name)")
    export.add_argument("--role", default="dentist", help="their role, for the audit trail (default dentist)")
    export.set_defaults(func=_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odonto-desk",
        description="Dental charting for the Apex Odonto API. With no command, starts the app.",
    )
    parser.add_argument(
        "--smoke-test", metavar="OUT.png",
        help="check an install without a person: sign in as a demo dentist, start the embedded reference "
        "server, open the first demo patient's chart, save the window as OUT.png, print one line of JSON "
        "and exit (1 with the reason on stderr if the chart is not shown in time)")
    parser.add_argument("--smoke-timeout", type=float, default=120.0, metavar="S",
                        help="seconds --smoke-test waits for the chart (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    app = sub.add_parser("app", help="start the desktop app (the default)")
    app.set_defaults(func=_run_app)

    perio = sub.add_parser("perio", help="periodontal tools")
    perio_sub = perio.add_subparsers(dest="perio_command", metavar="PERIO_COMMAND", required=True)
    classify = perio_sub.add_parser(
        "classify",
        help="classify a case (2017 AAP/EFP stage, grade, extent) and print the result as JSON",
        description="Read a case file (see docs/perio-classification.md) and print "
        '{"diagnosis", "stage", "grade", "extent", "flags", "reasons"} as JSON.',
    )
    classify.add_argument("case", help="the case JSON file, or - for standard input")
    classify.set_defaults(func=_perio_classify)

    _add_sync_and_export(sub)

    forget = sub.add_parser(
        "forget-pin", help="remove a user's unlock PIN from this computer (a forgotten PIN)",
        description="Remove the unlock PIN of USER (as they sign in, e.g. \"Dr. Lee\") from this computer's "
        "secret store; they unlock by name again until they set a new one. Exit 1 when they had none.")
    forget.add_argument("user", metavar="USER", help="the user's name")
    forget.set_defaults(func=_forget_pin)

    from odonto_desk.sandbox.cli import add_parser as add_sandbox

    add_sandbox(sub)
    # Listed for --help; main() hands "certify …" to its own parser before this one runs.
    sub.add_parser("certify", add_help=False, help="run the Apex certification track (12 items) against a server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["certify"]:  # certify has its own parser (its options start with dashes)
        from odonto_desk.services.certify import certify_main

        return certify_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", _run_app)
    if args.smoke_test is not None and func is not _run_app:
        parser.error("--smoke-test starts the app: give it no command other than app")
    return int(func(args))


if __name__ == "__main__":
    sys.exit(main())
