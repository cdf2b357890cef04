"""The ``artreg`` command line: each subcommand is a few lines over one library call.

Every command takes ``--json`` (one JSON document on stdout, stable keys). User errors print
one line to stderr and exit with the code of their class (``EXIT_CODES``, documented in the
README); under ``--json`` that line is a JSON object ``{"error", "message", "exit_code"}``.
``--debug`` shows the traceback instead.

Only commands registered with ``creates=`` make a new registry where none is; every other
command opens with ``create=False``, so a mistyped ``--registry`` is reported as NotFound
instead of answering from a new, empty registry.

Here: ``main`` and ``run_command`` (the web view's pages). Each subcommand and how its result
reads as text are in ``_commands``, the argparse parser in ``_parser``, JSON, error lines and
exit codes in ``_output``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Collection, Sequence
from contextlib import nullcontext, redirect_stdout

from .. import _errors as errors
from .._registry import Registry
from ._commands import COMMANDS, LOOKS, READ_ONLY, STANDALONE, Problems
from ._output import EXIT_CODES, USAGE_EXIT, Result, _emit, _error_class, _fail, exit_code, json_document
from ._parser import UsageError, _Refusing, build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv  # known before parsing, so that a usage error can be JSON too
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        if as_json:
            return _fail("UsageError", f"{exc.prog}: {exc}", USAGE_EXIT, as_json)
        print(f"{exc.usage}{exc.prog}: error: {exc}", file=sys.stderr)  # as argparse itself says it
        return USAGE_EXIT
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    for option, default in (("registry", None), ("user", None), ("json", False), ("debug", False)):
        if not hasattr(args, option):
            setattr(args, option, default)
    alone = STANDALONE.get(args.command)
    show = alone[1] if alone else COMMANDS[args.command][1]
    try:
        if alone is not None:
            result = alone[0](args)
        else:
            run, _, creates = COMMANDS[args.command]
            with _open(args, creates(args)) as reg:
                result = run(reg, args)
    except Problems as problems:
        _emit(problems.result, show, args.json)
        return _fail("IntegrityError", str(problems), exit_code(problems), args.json)
    except errors.ArtregError as exc:
        if args.debug:
            raise
        return _fail(_error_class(exc).__name__, str(exc), exit_code(exc), args.json)
    except OSError as exc:
        if args.debug:
            raise
        return _fail(type(exc).__name__, str(exc), 1, args.json)
    # A bundle written to stdout owns it: the report goes to stderr.
    with redirect_stdout(sys.stderr) if args.command == "copy" and args.dst == "-" else nullcontext():
        _emit(result, show, args.json)
    return 0


def _open(args: argparse.Namespace, create: bool) -> Registry:
    """The registry of ``--registry``; says so on stderr when this command created it."""
    try:
        reg = Registry(args.registry, user=args.user, create=create, read_only=args.command in READ_ONLY)
    except errors.NotFound as exc:
        raise errors.NotFound(f"{exc} (check --registry and $ARTREG_HOME; put, demo and registry create make a new one)") from exc
    if reg._db.created and not args.json:
        print(f"artreg: created a new registry at {reg.path}", file=sys.stderr)
    return reg



_PARSERS = threading.local()



def run_command(reg: Registry, argv: Sequence[str], allowed: Collection[str] = LOOKS) -> Result:
    """The result of ``artreg <argv>`` run on an open registry (what ``--json`` prints, as a dict).

    For the web view, whose pages are these commands: only commands in ``allowed`` run
    (the read-only ones by default), and bad arguments raise InvalidName.
    """
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:  # building one costs more than a page (~10 ms): one per thread, kept
        parser = _PARSERS.parser = build_parser(_Refusing)
    args = parser.parse_args(list(argv))
    if args.command not in allowed or (args.command == "registry" and args.action != "ls"):
        raise errors.InvalidName(f"artreg {args.command} is not a read-only command")
    return COMMANDS[args.command][0](reg, args)


def main_entry() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["COMMANDS", "EXIT_CODES", "build_parser", "exit_code", "json_document", "main", "main_entry", "run_command"]
