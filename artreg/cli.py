"""The ``artreg`` command line: each subcommand is a few lines over one library call.

User errors print one line to stderr and exit with the code of their class (see
``EXIT_CODES``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import _errors as errors
from ._demo import run_demo
from ._registry import Registry, default_home

EXIT_CODES: dict[type[errors.ArtregError], int] = {
    errors.NotFound: 3,
    errors.InvalidName: 4,
    errors.TypeMismatch: 5,
    errors.AlreadyExists: 6,
    errors.PermissionDenied: 7,
    errors.IntegrityError: 8,
    errors.Busy: 9,
    errors.SchemaError: 10,
    errors.ArtregError: 1,
}


def exit_code(exc: errors.ArtregError) -> int:
    """The process exit code for an error: the most specific class's, else 1."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def _cmd_demo(reg: Registry, args: argparse.Namespace) -> dict[str, Any]:
    return run_demo(reg)


def _print_demo(result: dict[str, Any]) -> None:
    print(f"registry:  {result['registry']}")
    print(f"logged:    {result['dataset']}  aliases: {', '.join(result['dataset_aliases'])}")
    print(f"logged:    {result['model']}  aliases: {', '.join(result['model_aliases'])}")
    print("lineage:\n" + "\n".join(f"    {line}" for line in result["lineage"].splitlines()))
    print(f"try:       artreg --registry {result['registry']!r} ... (or set ARTREG_HOME)")


COMMANDS: dict[str, tuple[str, Callable[[Registry, argparse.Namespace], Any], Callable[[Any], None]]] = {
    "demo": ("log a small dataset and a model made from it, with aliases", _cmd_demo, _print_demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artreg", description="An embedded artifact registry.")
    parser.add_argument("--registry", help=f"registry folder or .db file (default: $ARTREG_HOME or {default_home()})")
    parser.add_argument("--user", help="act as this user (default: $ARTREG_USER or the login name)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, _run, _show) in COMMANDS.items():
        sub.add_parser(name, help=summary, description=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = build_parser().parse_args(argv)
    _summary, run, show = COMMANDS[args.command]
    try:
        with Registry(args.registry, user=args.user) as reg:
            result = run(reg, args)
    except errors.ArtregError as exc:
        if args.debug:
            raise
        print(f"artreg: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        show(result)
    return 0


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
