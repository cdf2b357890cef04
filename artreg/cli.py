"""The ``artreg`` command line: each subcommand is a few lines over one library call.

Every command takes ``--json`` (one JSON document on stdout, stable keys). User errors print
one line to stderr and exit with the code of their class (``EXIT_CODES``, documented in the
README); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext, redirect_stdout
from typing import Any

from . import _errors as errors
from ._bundle import CopyReport
from ._copy import copy, is_bundle, verify_bundle
from ._demo import run_demo
from ._draft import Artifact
from ._names import check_metadata
from ._references import is_uri
from ._registry import Registry, default_home
from ._render import ProgressLine, collection_dict, fields, human_size, table, version_dict

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

Result = dict[str, Any]
Command = Callable[[Registry, argparse.Namespace], Result]
Show = Callable[[Result], None]
COMMANDS: dict[str, tuple[Command, Show]] = {}
# Commands that open no --registry of their own (their arguments name registries or bundles).
Standalone = Callable[[argparse.Namespace], Result]
STANDALONE: dict[str, tuple[Standalone, Show]] = {}


def exit_code(exc: errors.ArtregError) -> int:
    """The process exit code for an error: the most specific class's, else 1."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def command(name: str, show: Show) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, show)
        return fn

    return register


def standalone(name: str, show: Show) -> Callable[[Standalone], Standalone]:
    def register(fn: Standalone) -> Standalone:
        STANDALONE[name] = (fn, show)
        return fn

    return register


def _show_version(result: Result) -> None:
    v = result["version"]
    print(f"{result.get('verb', 'version')} {v['ref']}  ({v['file_count']} files, {human_size(v['size'])})")
    print(f"  aliases: {', '.join(v['aliases']) or '-'}")


# -- commands -----------------------------------------------------------------------------


@command("demo", lambda r: _show_demo(r))
def _demo(reg: Registry, args: argparse.Namespace) -> Result:
    return run_demo(reg)


def _show_demo(result: Result) -> None:
    print(f"registry:  {result['registry']}")
    print(f"logged:    {result['dataset']}  aliases: {', '.join(result['dataset_aliases'])}")
    print(f"logged:    {result['model']}  aliases: {', '.join(result['model_aliases'])}")
    print("lineage:\n" + "\n".join(f"    {line}" for line in result["lineage"].splitlines()))
    print(f"try:       artreg --registry {result['registry']!r} ls")


@command("put", _show_version)
def _put(reg: Registry, args: argparse.Namespace) -> Result:
    project, _, name = (args.name or "").rpartition("/")
    name = name or None
    metadata = _json_arg("--metadata", args.metadata) if args.metadata else None
    if is_uri(args.path):
        draft = Artifact(name or args.path.rstrip("/").rpartition("/")[2], args.type, args.description, metadata)
        draft.add_reference(args.path)
    else:
        if not os.path.exists(args.path):
            raise errors.NotFound(f"no such file or folder: {args.path!r}")
        draft = Artifact(name or os.path.basename(os.path.normpath(args.path)), args.type, args.description, metadata)
        if os.path.isdir(args.path):
            draft.add_dir(args.path)
        else:
            draft.add_file(args.path)
    progress = ProgressLine("logging")
    try:
        v = reg.log_artifact(draft, project=project or None, aliases=args.alias, tags=args.tag, progress=progress)
    finally:
        progress.close()
    return {"verb": "logged", "version": version_dict(v)}


@command("get", lambda r: print(f"downloaded {r['version']['ref']} to {r['root']}"))
def _get(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    progress = ProgressLine("downloading")
    try:
        root = v.download(args.root, link=args.link, progress=progress)
    finally:
        progress.close()
    return {"version": version_dict(v), "root": root}


@command("ls", lambda r: table(
    [(c["project"], c["name"], c["type"], c["latest"], c["versions"], human_size(c["size"] or 0), (c["updated"] or "")[:19])
     for c in r["collections"]],
    ["PROJECT", "NAME", "TYPE", "LATEST", "VERSIONS", "SIZE", "UPDATED"],
))
def _ls(reg: Registry, args: argparse.Namespace) -> Result:
    return {"collections": [collection_dict(c) for c in reg.collections(args.project, type=args.type)]}


@command("show", lambda r: _show_detail(r))
def _show(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    return {
        "version": version_dict(v),
        "files": [{"path": e.path, "size": e.size, "digest": e.digest, "ref": e.ref} for e in v.files()],
        "logged_by": [run.name for run in v.logged_by()],
        "used_by": [run.name for run in v.used_by()],
    }


def _show_detail(result: Result) -> None:
    v = result["version"]
    fields([
        ("version", v["ref"]), ("type", v["type"]), ("digest", v["digest"]), ("size", human_size(v["size"])),
        ("aliases", ", ".join(v["aliases"]) or "-"), ("tags", ", ".join(v["tags"]) or "-"),
        ("description", v["description"] or "-"), ("metadata", json.dumps(v["metadata"], sort_keys=True)),
        ("created", f"{v['created_at'][:19]} by {v['created_by']}"), ("source", v["source"] or "-"),
        ("logged by", ", ".join(result["logged_by"]) or "-"), ("used by", ", ".join(result["used_by"]) or "-"),
    ])
    print()
    table([(f["path"], f["size"], f["digest"][:12]) for f in result["files"]], ["PATH", "SIZE", "DIGEST"])


@command("alias", _show_version)
def _alias(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    for alias in args.aliases:
        if args.action == "add" and alias not in v.aliases:
            v.aliases.append(alias)
        elif args.action == "rm":
            if alias not in v.aliases:
                raise errors.NotFound(f"{v.qualified_name} does not hold alias {alias!r}")
            v.aliases.remove(alias)
    v.save()
    return {"verb": "aliases of", "version": version_dict(v)}


@command("tag", _show_version)
def _tag(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    if args.action == "add":
        v.tags.extend(t for t in args.tags if t not in v.tags)
    else:
        missing = [t for t in args.tags if t not in v.tags]
        if missing:
            raise errors.NotFound(f"{v.qualified_name} has no tag {missing[0]!r}")
        v.tags = [t for t in v.tags if t not in args.tags]
    v.save()
    return {"verb": "tags of", "version": version_dict(v)}


@command("link", _show_version)
def _link(reg: Registry, args: argparse.Namespace) -> Result:
    return {"verb": "linked as", "version": version_dict(reg.artifact(args.ref).link(args.target, aliases=args.alias))}


@command("unlink", lambda r: print(f"unlinked {r['ref']}"))
def _unlink(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    v.unlink()
    return {"ref": v.qualified_name}


@command("delete", lambda r: print(f"deleted {r['ref']}"))
def _delete(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    v.delete(delete_aliases=args.delete_aliases)
    return {"ref": v.qualified_name}


@command("lineage", lambda r: print(r["text"], end=""))
def _lineage(reg: Registry, args: argparse.Namespace) -> Result:
    graph = reg.artifact(args.ref).lineage(args.direction, depth=args.depth)
    if args.format == "text":
        names = {n.id: n.label for n in graph.nodes}
        text = "".join(f"{names[e.source]} --{e.kind}--> {names[e.target]}\n" for e in graph.edges) or f"{names[graph.root]}\n"
    else:
        text = {"json": graph.to_json() + "\n", "dot": graph.to_dot(), "mermaid": graph.to_mermaid()}[args.format]
    return {"graph": graph.to_dict(), "text": text}


@command("search", lambda r: table(
    [(h["kind"], h["field"], h["ref"], h["text"]) for h in r["hits"]], ["KIND", "FIELD", "WHERE", "MATCHED"]
) if r["hits"] else print("no matches"))
def _search(reg: Registry, args: argparse.Namespace) -> Result:
    hits = reg.search(args.text, kinds=args.kind, limit=args.limit)
    return {"hits": [{"kind": h.kind, "field": h.field, "ref": h.ref, "text": h.text, "score": h.score} for h in hits]}


@command("verify", lambda r: print(f"ok: {r['ref']} matches {r['where']}"))
def _verify(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    v.verify(args.root)
    return {"ref": v.qualified_name, "where": args.root or "its stored blobs", "ok": True}


@command("check", lambda r: _show_check(r))
def _check(reg: Registry, args: argparse.Namespace) -> Result:
    report = reg.check(fix=args.fix)
    result = {"ok": report.ok, "integrity": report.integrity, "missing": report.missing, "corrupt": report.corrupt,
              "orphans": report.orphans, "removed_orphans": report.removed_orphans}
    if not report.ok:
        raise CheckFailed(result)
    return result


class CheckFailed(errors.IntegrityError):
    """``check`` found problems: printed in full, then exit with IntegrityError's code."""

    def __init__(self, result: Result) -> None:
        problems = sum(len(result[k]) for k in ("integrity", "missing", "corrupt", "orphans"))
        super().__init__(f"check found {problems} problem(s)")
        self.result = result


def _show_check(result: Result) -> None:
    print("ok" if result["ok"] else "problems found")
    for key in ("integrity", "missing", "corrupt", "orphans", "removed_orphans"):
        for item in result[key]:
            print(f"  {key}: {item}")


@command("gc", lambda r: print(
    f"{'would free' if r['dry_run'] else 'freed'} {r['blobs']} blobs ({human_size(r['bytes'])}) "
    f"and {r['orphan_files']} orphan files ({human_size(r['orphan_bytes'])})"
))
def _gc(reg: Registry, args: argparse.Namespace) -> Result:
    report = reg.gc(dry_run=args.dry_run)
    return {"blobs": report.blobs, "bytes": report.bytes, "orphan_files": report.orphan_files,
            "orphan_bytes": report.orphan_bytes, "dry_run": report.dry_run}


@command("expire", lambda r: print("\n".join(
    [f"{'would delete' if r['dry_run'] else 'deleted'} {ref}" for ref in r["expired"]] or ["nothing expired"]
)))
def _expire(reg: Registry, args: argparse.Namespace) -> Result:
    return {"expired": [v.qualified_name for v in reg.expire(dry_run=args.dry_run)], "dry_run": args.dry_run}


@command("audit", lambda r: _show_audit(r))
def _audit(reg: Registry, args: argparse.Namespace) -> Result:
    if args.verify:
        return {"verified": reg.audit.verify(), "head": reg.audit.head()[1]}
    entries = reg.audit.entries(action=args.action)[-args.limit:] if args.limit else reg.audit.entries(action=args.action)
    return {"entries": [{"id": e.id, "at": e.at.isoformat(), "user": e.user, "action": e.action,
                         "collection_id": e.collection_id, "version_id": e.version_id, "alias": e.alias,
                         "detail": e.detail} for e in entries]}


def _show_audit(result: Result) -> None:
    if "verified" in result:
        print(f"audit log verified: {result['verified']} entries, head {result['head'][:16]}")
        return
    table([(e["id"], e["at"][:19], e["user"], e["action"], e["alias"] or "", json.dumps(e["detail"], sort_keys=True))
           for e in result["entries"]], ["ID", "AT", "USER", "ACTION", "ALIAS", "DETAIL"])


@command("registry", lambda r: _show_registry(r))
def _registry(reg: Registry, args: argparse.Namespace) -> Result:
    if args.action == "create":
        catalog = reg.create_registry(args.name, artifact_types=args.type, description=args.description,
                                      visibility=args.visibility)
        return {"registries": [_registry_dict(catalog)]}
    if args.action == "protect":
        catalog = reg.registry(args.name)
        for alias in args.aliases:
            (catalog.unprotect_alias if args.remove else catalog.protect_alias)(alias)
        return {"registries": [_registry_dict(catalog)]}
    if args.action == "member":
        catalog = reg.registry(args.name)
        if args.remove:
            catalog.remove_member(args.member)
        elif args.member:
            if not args.role:
                raise errors.InvalidName("registry member NAME USER needs a ROLE (or --remove)")
            catalog.add_member(args.member, args.role)
        return {"registries": [_registry_dict(catalog)]}
    return {"registries": [_registry_dict(c) for c in reg.registries()]}


def _registry_dict(catalog: Any) -> Result:
    return {"name": catalog.name, "description": catalog.description, "visibility": catalog.visibility,
            "artifact_types": catalog.artifact_types, "members": catalog.members(),
            "protected_aliases": catalog.protected_aliases()}


def _show_registry(result: Result) -> None:
    table([(r["name"], r["visibility"], ", ".join(r["artifact_types"] or ["(all)"]), ", ".join(r["protected_aliases"]) or "-",
            ", ".join(f"{u}={role}" for u, role in r["members"].items()) or "-") for r in result["registries"]],
          ["REGISTRY", "VISIBILITY", "TYPES", "PROTECTED", "MEMBERS"])


@standalone("copy", lambda r: _show_copy(r))
def _copy(args: argparse.Namespace) -> Result:
    progress = ProgressLine("copying")
    try:
        report = copy(args.src, args.dst, args.refs, user=args.user, basis=args.basis,
                      keep_destination_aliases=args.keep_destination_aliases, progress=progress)
    finally:
        progress.close()
    verb = "exported" if is_bundle(args.dst) else "imported" if is_bundle(args.src) else "copied"
    return {"verb": verb, "src": args.src, "dst": args.dst, **_report_dict(report)}


def _report_dict(report: CopyReport) -> Result:
    fields = {k: v for k, v in vars(report).items() if k not in ("copied", "aliases_kept")}
    return {**fields, "aliases_kept": list(report.aliases_kept),
            "copied": [{"source": c.source, "destination": c.destination, "outcome": c.outcome} for c in report.copied]}


COPIED_SHOWN = 50


def _show_copy(result: Result) -> None:
    counts = {outcome: sum(c["outcome"] == outcome for c in result["copied"]) for outcome in ("sent", "known")}
    if result["verb"] == "exported":
        print(f"exported {counts['sent']} versions and links whole, {counts['known']} as held by the receiver, "
              f"{result['blobs_sent']} blobs ({human_size(result['bytes_sent'])}) to {result['dst']}")
    else:
        print(f"{result['verb']} {result['src']} into {result['dst']}: versions {result['versions_created']} created, "
              f"{result['versions_reused']} reused; links {result['links_created']} created, {result['links_reused']} reused; "
              f"runs {result['runs_created']} created, {result['runs_reused']} reused; {result['aliases_moved']} aliases set; "
              f"{result['blobs_sent']} blobs ({human_size(result['bytes_sent'])}) sent")
    for item in result["copied"][:COPIED_SHOWN]:
        where = f" -> {item['destination']}" if item["destination"] else ""
        print(f"  {item['source']}{where}  ({item['outcome']})")
    if len(result["copied"]) > COPIED_SHOWN:
        print(f"  ... and {len(result['copied']) - COPIED_SHOWN} more (--json lists them all)")
    for alias in result["aliases_kept"]:
        print(f"  kept {alias} where it was at the destination (--keep-destination-aliases)")


@standalone("bundle", lambda r: print(
    f"ok: {r['file']} from registry {r['source']} (made {r['created_at'][:19]} by {r['created_by']}): {r['versions']} versions, "
    f"{r['links']} links, {r['runs']} runs, {r['blobs']} blobs ({human_size(r['bytes'])})"
    + (f"; the receiver must hold {r['receiver_versions']} versions and {r['receiver_blobs']} blobs already"
       if r["receiver_versions"] or r["receiver_blobs"] else "")
))
def _bundle(args: argparse.Namespace) -> Result:
    if args.file == "-":
        with open(sys.stdin.fileno(), "rb", buffering=1 << 20, closefd=False) as stdin:
            summary = verify_bundle(stdin)
    else:
        summary = verify_bundle(args.file)
    return {"file": args.file, **vars(summary)}


def _json_arg(flag: str, text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.InvalidName(f"{flag} is not valid JSON: {exc}") from exc
    return check_metadata(value)


# -- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", default=argparse.SUPPRESS,
                        help=f"registry folder or .db file (default: $ARTREG_HOME or {default_home()})")
    common.add_argument("--user", default=argparse.SUPPRESS, help="act as this user (default: $ARTREG_USER or the login name)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document on stdout")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog="artreg", description="An embedded artifact registry.", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    add("demo", "log a small dataset and a model trained on it, through runs, with aliases")
    p = add("put", "log a file, folder or URI as a new version (like wandb artifact put)")
    p.add_argument("path")
    p.add_argument("-n", "--name", help="[project/]name (default: the path's last part, in 'uncategorized')")
    p.add_argument("-t", "--type", default="dataset")
    p.add_argument("-a", "--alias", action="append", default=[])
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("-d", "--description")
    p.add_argument("--metadata", help="a JSON object")
    p = add("get", "download a version (like wandb artifact get)")
    p.add_argument("ref")
    p.add_argument("--root", help="where to put the files (default ./artifacts/<name>:<version>)")
    p.add_argument("--link", default="copy", choices=["copy", "hardlink", "symlink", "reflink", "auto"])
    p = add("ls", "list collections with their latest version")
    p.add_argument("project", nargs="?")
    p.add_argument("--type")
    add("show", "a version in detail: aliases, tags, metadata, files, lineage").add_argument("ref")
    for name, what in (("alias", "aliases"), ("tag", "tags")):
        p = add(name, f"add or remove {what}")
        p.add_argument("action", choices=["add", "rm"])
        p.add_argument("ref")
        p.add_argument(what, nargs="+")
    p = add("link", "link a version into a registry collection")
    p.add_argument("ref")
    p.add_argument("target", help="[org/]wandb-registry-<registry>/<collection>")
    p.add_argument("-a", "--alias", action="append", default=[])
    add("unlink", "remove a link from its registry").add_argument("ref")
    p = add("delete", "delete a version (soft: its index stays reserved)")
    p.add_argument("ref")
    p.add_argument("--delete-aliases", action="store_true")
    p = add("lineage", "runs and versions upstream and downstream of a version")
    p.add_argument("ref")
    p.add_argument("--format", default="text", choices=["text", "json", "dot", "mermaid"])
    p.add_argument("--depth", type=int)
    p.add_argument("--direction", default="both", choices=["both", "upstream", "downstream"])
    p = add("search", "find registries, collections and versions by name, description, alias or tag")
    p.add_argument("text", help="words (all must match a field), zoo* for a prefix, \"a phrase\", AND/OR/NOT")
    p.add_argument("--kind", action="append", choices=["registry", "collection", "version"])
    p.add_argument("--limit", type=int, default=50)
    p = add("verify", "rehash a version's stored blobs, or a downloaded tree")
    p.add_argument("ref")
    p.add_argument("--root")
    add("check", "integrity-check the database and every blob").add_argument("--fix", action="store_true")
    add("gc", "remove blobs no live version references").add_argument("--dry-run", action="store_true")
    add("expire", "delete versions whose TTL has run out").add_argument("--dry-run", action="store_true")
    p = add("audit", "show or verify the audit log")
    p.add_argument("--verify", action="store_true")
    p.add_argument("--action")
    p.add_argument("--limit", type=int, default=50, help="the last N entries (0: all)")
    p = add("registry", "registries: create, ls, protect, member")
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    r = rsub.add_parser("create", parents=[common])
    r.add_argument("name")
    r.add_argument("--type", action="append", help="accepted type (repeatable; default: all)")
    r.add_argument("--description")
    r.add_argument("--visibility", default="organization", choices=["organization", "restricted"])
    rsub.add_parser("ls", parents=[common])
    r = rsub.add_parser("protect", parents=[common])
    r.add_argument("name")
    r.add_argument("aliases", nargs="+")
    r.add_argument("--remove", action="store_true")
    r = rsub.add_parser("member", parents=[common])
    r.add_argument("name")
    r.add_argument("member", nargs="?", metavar="USER")  # not "user": that is the acting --user
    r.add_argument("role", nargs="?", choices=["restricted_viewer", "viewer", "member", "admin"])
    r.add_argument("--remove", action="store_true")
    p = add("copy", "copy versions between registries and bundle files (.tar, or - for stdin/stdout)")
    p.add_argument("src", help="a registry (folder or .db file), a bundle (.tar), or - for a bundle on stdin")
    p.add_argument("dst", help="a registry (created when missing), a bundle (.tar), or - for a bundle on stdout")
    p.add_argument("refs", nargs="*", metavar="REF", help="versions to copy from a registry, with their links and runs (default: all)")
    p.add_argument("--basis", action="append", default=[], metavar="BUNDLE",
                   help="a bundle the receiver has imported already: what it carried is left out (repeatable)")
    p.add_argument("--keep-destination-aliases", action="store_true",
                   help="leave an alias where it is when another version holds it at the destination")
    p = add("bundle", "check a bundle file on its own")
    bsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = bsub.add_parser("verify", parents=[common], help="read the whole bundle and check every record and blob")
    b.add_argument("file", help="a bundle (.tar), or - for stdin")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = build_parser().parse_args(argv)
    for option, default in (("registry", None), ("user", None), ("json", False), ("debug", False)):
        if not hasattr(args, option):
            setattr(args, option, default)
    alone = STANDALONE.get(args.command)
    show = alone[1] if alone else COMMANDS[args.command][1]
    try:
        if alone is not None:
            result = alone[0](args)
        else:
            with Registry(args.registry, user=args.user) as reg:
                result = COMMANDS[args.command][0](reg, args)
    except CheckFailed as failed:
        _emit(failed.result, show, args.json)
        return exit_code(failed)
    except errors.ArtregError as exc:
        if args.debug:
            raise
        print(f"artreg: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except OSError as exc:
        if args.debug:
            raise
        print(f"artreg: error: {exc}", file=sys.stderr)
        return 1
    # A bundle written to stdout owns it: the report goes to stderr.
    with redirect_stdout(sys.stderr) if args.command == "copy" and args.dst == "-" else nullcontext():
        _emit(result, show, args.json)
    return 0


def _emit(result: Result, show: Show, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("verb", "text")}, indent=2, sort_keys=True, default=str))
    else:
        show(result)


def main_entry() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["EXIT_CODES", "exit_code", "main", "main_entry"]
