"""The ``odonto-desk`` command: the app by default, and the command-line tools.

Imports are lazy: ``odonto-desk perio classify`` never loads Qt, and the app does not load the
command-line tools.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _run_app(args: argparse.Namespace) -> int:
    from odonto_desk.app import run

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odonto-desk",
        description="Dental charting for the Apex Odonto API. With no command, starts the app.",
    )
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

    from odonto_desk.sandbox.cli import add_parser as add_sandbox

    add_sandbox(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", _run_app)
    return int(func(args))


if __name__ == "__main__":
    sys.exit(main())
