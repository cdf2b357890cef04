"""The subcommands, each a few lines over one library call, with how its result is shown."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

from .. import _errors as errors
from .._bundle import CopyReport
from .._copy import verify_bundle
from .._copy_command import copy, is_bundle
from .._demo import run_demo
from .._draft import Artifact
from .._names import DEFAULT_PROJECT, REGISTRY_PROJECT_PREFIX, check_metadata
from .._registry import Registry, default_home
from .._render import (
    ProgressLine,
    alias_change_dict,
    audit_dict,
    collection_dict,
    fields,
    files_hidden,
    human_size,
    plural,
    table,
    version_dict,
)
from ..references import is_uri
from ..storage._location import DB_NAME
from ._output import Result, Show

Command = Callable[[Registry, argparse.Namespace], Result]
Creates = Callable[[argparse.Namespace], bool]
COMMANDS: dict[str, tuple[Command, Show, Creates]] = {}
# Commands that only read, and so may back the web view's pages.
LOOKS = frozenset({"ls", "versions", "show", "diff", "lineage", "search", "registry"})
# Commands that open the registry read-only.
READ_ONLY = frozenset({"ui"})
HISTORY = 50  # the last changes of each alias, and of a version, that ``show`` lists
# Commands that open no --registry of their own (their arguments name registries or bundles).
Standalone = Callable[[argparse.Namespace], Result]
STANDALONE: dict[str, tuple[Standalone, Show]] = {}



def command(name: str, show: Show, *, creates: bool | Creates = False) -> Callable[[Command], Command]:
    """Register a subcommand; ``creates`` (or ``creates(args)``) says it may make a new registry."""
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, show, creates if callable(creates) else lambda _args: creates)
        return fn

    return register


def standalone(name: str, show: Show) -> Callable[[Standalone], Standalone]:
    def register(fn: Standalone) -> Standalone:
        STANDALONE[name] = (fn, show)
        return fn

    return register


def _show_version(result: Result) -> None:
    v = result["version"]
    print(f"{result.get('verb', 'version')} {v['ref']}  ({plural(v['file_count'], 'file')}, {human_size(v['size'])})")
    print(f"  aliases: {', '.join(v['aliases']) or '-'}")


# -- commands -----------------------------------------------------------------------------


@command("demo", lambda r: _show_demo(r), creates=True)
def _demo(reg: Registry, args: argparse.Namespace) -> Result:
    return run_demo(reg)


def _show_demo(result: Result) -> None:
    fields([
        ("registry", result["registry"]),
        *((("logged" if result[f"{kind}_new"] else "already there"),
           f"{result[kind]}  (aliases: {', '.join(result[f'{kind}_aliases']) or '-'})") for kind in ("dataset", "model")),
    ])
    if not (result["dataset_new"] or result["model_new"]):
        print("nothing new was logged: the demo has already run on this registry")
    print(f"\nlineage of {result['model']}:")
    print("".join(f"    {line}\n" for line in result["lineage"].splitlines()), end="")
    default = os.path.join(os.path.abspath(os.path.expanduser(default_home())), DB_NAME)
    artreg = "artreg" if result["registry"] == default else f"artreg --registry {shlex.quote(result['registry'])}"
    print(f"\nnext:\n    {artreg} ls\n    {artreg} show {result['model']}")
    print(f"    {artreg} lineage {result['model']} --format svg > lineage.svg    (a picture; or dot, mermaid, json)")
    print(f"    {artreg} ui --open    (browse it: pip install 'artreg[ui]')")


@command("put", _show_version, creates=True)
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
    before = _latest_id(reg, f"{project or DEFAULT_PROJECT}/{draft.name}")
    progress = ProgressLine("logging")
    try:
        v = reg.log_artifact(draft, project=project or None, aliases=args.alias, tags=args.tag, progress=progress)
    finally:
        progress.close()
    new = v.id != before  # the same content as latest is no new version
    return {"verb": "logged" if new else "unchanged, already logged as", "new": new, "version": version_dict(v)}


def _latest_id(reg: Registry, ref: str) -> int | None:
    try:
        return reg.artifact(ref).id
    except errors.ArtregError:  # nothing there yet (or a bad name, which logging reports)
        return None


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
) if r["collections"] else print("no collections"))
def _ls(reg: Registry, args: argparse.Namespace) -> Result:
    if args.project is not None:
        if args.project.startswith(REGISTRY_PROJECT_PREFIX):
            reg.registry(args.project[len(REGISTRY_PROJECT_PREFIX):])  # NotFound, or PermissionDenied without a role
        elif args.project not in reg.projects():
            raise errors.NotFound(f"no project named {args.project!r}")
    return {"collections": [collection_dict(c) for c in reg.collections(args.project, type=args.type)]}


@command("show", lambda r: _show_detail(r))
def _show(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    hidden = files_hidden(v)
    files = None if hidden else [_entry(e) for e in v.files(args.path, offset=args.offset, limit=args.limit)]
    collection = v.collection
    return {
        "version": version_dict(v),
        "files": files,
        "files_total": None if hidden else v.count_files(args.path),
        "files_hidden": hidden,
        "path": args.path,
        "offset": args.offset,
        "limit": args.limit,
        "logged_by": [run.name for run in v.logged_by()],
        "used_by": [run.name for run in v.used_by()],
        "alias_history": {a: [alias_change_dict(c) for c in collection.alias_history(a, last=HISTORY)] for a in v.aliases},
        "audit": [audit_dict(e) for e in reg.audit.entries(version_id=v.id, last=HISTORY)],
    }


def _entry(e: Any) -> Result:
    return {"path": e.path, "size": e.size, "digest": e.digest, "ref": e.ref}


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
    if result["files"] is None:
        print(f"files hidden: {result['files_hidden']}")
        return
    table([(f["path"], f["size"], f["digest"][:12]) for f in result["files"]], ["PATH", "SIZE", "DIGEST"])
    if len(result["files"]) < result["files_total"]:
        print(f"({len(result['files'])} of {result['files_total']:,} files; --offset and --limit page through them)")


@command("versions", lambda r: table(
    [(v["version"], ", ".join(v["aliases"]), ", ".join(v["tags"]), human_size(v["size"]), v["created_by"], v["created_at"][:19])
     for v in r["versions"]],
    ["VERSION", "ALIASES", "TAGS", "SIZE", "CREATED BY", "CREATED AT"],
))
def _versions(reg: Registry, args: argparse.Namespace) -> Result:
    collection = reg.collection(args.collection)
    page = collection.versions(offset=args.offset, limit=args.limit)
    return {"collection": collection_dict(collection), "versions": [version_dict(v) for v in page],
            "offset": args.offset, "limit": args.limit}


@command("diff", lambda r: _show_diff(r))
def _diff(reg: Registry, args: argparse.Namespace) -> Result:
    old, new = reg.artifact(args.old), reg.artifact(args.new)
    hidden = files_hidden(old) or files_hidden(new)
    result = old.diff(new, unchanged=args.unchanged and not hidden).to_dict(files=not hidden)
    result.setdefault("files", None)
    result["files_hidden"] = hidden
    return result


def _show_diff(result: Result) -> None:
    print(f"{result['old']} -> {result['new']}" + ("  (same content)" if result["same_content"] else ""))
    files = result["files"]
    if files is None:
        print(f"files hidden: {result['files_hidden']}")
    else:
        print(f"files: {len(files['added'])} added, {len(files['removed'])} removed, {len(files['changed'])} changed, "
              f"{files['unchanged_count']} unchanged")
        for sign, key in (("+", "added"), ("-", "removed")):
            for f in files[key]:
                print(f"  {sign} {f['path']}  {human_size(f['size'])}  {f['digest'][:12]}")
        for c in files["changed"]:
            old, new = c["old"], c["new"]
            print(f"  ~ {c['path']}  {human_size(old['size'])} -> {human_size(new['size'])}  {old['digest'][:12]} -> {new['digest'][:12]}")
    meta = result["metadata"]
    for sign, key, shown in (("+", "added", "new"), ("-", "removed", "old")):
        for m in meta[key]:
            print(f"metadata {sign} {m['key']} = {json.dumps(m[shown], sort_keys=True)}")
    for m in meta["changed"]:
        print(f"metadata ~ {m['key']}: {json.dumps(m['old'], sort_keys=True)} -> {json.dumps(m['new'], sort_keys=True)}")
    for what in ("aliases", "tags"):
        gained, lost = result[what]["added"], result[what]["removed"]
        if gained or lost:
            print(f"{what}: " + " ".join([f"+{a}" for a in gained] + [f"-{a}" for a in lost]))


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
    try:
        v.delete(delete_aliases=args.delete_aliases)
    except errors.Conflict as exc:  # the library's message names its keyword argument
        raise errors.Conflict(
            f"{v.qualified_name} holds aliases {', '.join(v.aliases)}; add --delete-aliases to delete it anyway"
        ) from exc
    return {"ref": v.qualified_name}


@command("lineage", lambda r: print(r["text"], end=""))
def _lineage(reg: Registry, args: argparse.Namespace) -> Result:
    graph = reg.artifact(args.ref).lineage(args.direction, depth=args.depth)
    text = {"text": graph.to_text, "json": lambda: graph.to_json() + "\n", "dot": graph.to_dot, "mermaid": graph.to_mermaid,
            "svg": graph.to_svg}
    return {"graph": graph.to_dict(), "text": text[args.format]()}


@command("ui", lambda r: print(f"stopped serving {r['url']}"))
def _ui(reg: Registry, args: argparse.Namespace) -> Result:
    try:
        from .._web import serve
    except ImportError as exc:
        raise errors.MissingExtra(f"artreg ui needs the ui extra: pip install 'artreg[ui]' ({exc})") from exc
    return {"url": serve(reg, host=args.host, port=args.port, open_browser=args.open)}


@command("search", lambda r: table(
    [(h["kind"], h["field"], h["ref"], h["text"]) for h in r["hits"]], ["KIND", "FIELD", "WHERE", "MATCHED"]
) if r["hits"] else print("no matches"))
def _search(reg: Registry, args: argparse.Namespace) -> Result:
    hits = reg.search(args.text, kinds=args.kind, limit=args.limit)
    return {"hits": [{"kind": h.kind, "field": h.field, "ref": h.ref, "text": h.text, "score": h.score} for h in hits]}


@command("verify", lambda r: _show_verify(r))
def _verify(reg: Registry, args: argparse.Namespace) -> Result:
    v = reg.artifact(args.ref)
    root = None if args.root is None else os.path.abspath(args.root)
    result: Result = {"ref": v.qualified_name, "root": root, "files": v.file_count, "ok": True,
                      "missing": [], "mismatched": [], "extra": []}
    try:
        v.verify(root)
    except errors.IntegrityError as exc:
        result.update(ok=False, missing=exc.missing, mismatched=exc.mismatched, extra=exc.extra)
        raise Problems(result, str(exc)) from exc
    return result


def _show_verify(result: Result) -> None:
    where = result["root"] or "its stored blobs"
    if result["ok"]:
        print(f"ok: {result['ref']} ({plural(result['files'], 'file')}) matches {where}")
        return
    print(f"{result['ref']} does not match {where}")
    for key in ("missing", "mismatched", "extra"):
        for path in result[key]:
            print(f"  {key}: {path}")


@command("check", lambda r: _show_check(r))
def _check(reg: Registry, args: argparse.Namespace) -> Result:
    report = reg.check(fix=args.fix)
    result: Result = {"ok": report.ok, "integrity": report.integrity, "missing": report.missing, "corrupt": report.corrupt,
                      "orphans": report.orphans, "removed_orphans": report.removed_orphans, "cache_corrupt": report.cache_corrupt}
    if not report.ok:
        problems = sum(len(result[k]) for k in ("integrity", "missing", "corrupt", "orphans", "cache_corrupt"))
        raise Problems(result, f"check found {plural(problems, 'problem')}")
    return result


class Problems(errors.IntegrityError):
    """``check`` or ``verify`` found problems: the report is printed in full, then the error."""

    def __init__(self, result: Result, message: str) -> None:
        super().__init__(message)
        self.result = result


def _show_check(result: Result) -> None:
    print("ok" if result["ok"] else "problems found")
    for key in ("integrity", "missing", "corrupt", "orphans", "cache_corrupt", "removed_orphans"):
        for item in result[key]:
            print(f"  {key}: {item}")


@command("gc", lambda r: print("\n".join([
    f"{'would free' if r['dry_run'] else 'freed'} {plural(r['blobs'], 'blob')} ({human_size(r['bytes'])}) "
    f"and {plural(r['orphan_files'], 'orphan file')} ({human_size(r['orphan_bytes'])})",
    *([f"{'would delete' if r['dry_run'] else 'deleted'} {plural(r['remote_objects'], 'object')} ({human_size(r['remote_bytes'])}) "
       f"from the bucket; kept {r['remote_kept']} unreferenced (younger than the grace period, or claimed)"]
      if r["remote_objects"] or r["remote_kept"] else []),
    *r["notes"],
])))
def _gc(reg: Registry, args: argparse.Namespace) -> Result:
    report = reg.gc(dry_run=args.dry_run, grace=args.grace)
    return {"blobs": report.blobs, "bytes": report.bytes, "orphan_files": report.orphan_files,
            "orphan_bytes": report.orphan_bytes, "dry_run": report.dry_run, "remote_objects": report.remote_objects,
            "remote_bytes": report.remote_bytes, "remote_kept": report.remote_kept, "notes": list(report.notes)}


@command("blobs", lambda r: print("\n".join(
    [f"blobs: {r['blobs'] or 'objects/ (this registry folder)'}"]
    + ([f"store id: {r['store_id']}", f"owner: {r['owner']}{' (this registry)' if r['owned'] else ''}"] if r["blobs"] else [])
    + ([f"moved {r['moved']['blobs']} blobs: {r['moved']['uploaded']} sent ({human_size(r['moved']['bytes'])}), "
        f"{r['moved']['present']} already there"] if "moved" in r else [])
)))
def _blobs(reg: Registry, args: argparse.Namespace) -> Result:
    result: Result = {}
    if args.action == "move":
        if not args.url:
            raise errors.InvalidName("blobs move needs the URL of a bucket prefix: artreg blobs move s3://bucket/prefix")
        report = reg.move_blobs(args.url)
        result["moved"] = {"url": report.url, "blobs": report.blobs, "uploaded": report.uploaded, "present": report.present,
                           "bytes": report.bytes, "owner": report.owner}
    owner, registry_id = reg._db.setting("blobs_owner"), reg._db.setting("registry_id")
    return {**result, "blobs": reg.blobs, "registry_id": registry_id, "store_id": reg._db.setting("blobs_store_id"),
            "owner": owner, "owned": owner is not None and owner == registry_id}


@command("cache", lambda r: print(
    (f"removed {r['removed_files']} cached blobs ({human_size(r['removed_bytes'])}); " if r["action"] == "prune" else "")
    + f"{r['folder']}: {r['files']} cached blobs, {human_size(r['bytes'])}"
    + (f" of {human_size(r['limit'])}" if r["limit"] is not None else " (no bound)")
))
def _cache(reg: Registry, args: argparse.Namespace) -> Result:
    usage = reg.prune_cache(args.size) if args.action == "prune" else reg.cache_usage()
    return {"action": args.action, "folder": usage.folder, "files": usage.files, "bytes": usage.bytes, "limit": usage.limit,
            "removed_files": usage.removed_files, "removed_bytes": usage.removed_bytes}


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
    return {"entries": [audit_dict(e) for e in entries]}


def _show_audit(result: Result) -> None:
    if "verified" in result:
        print(f"audit log verified: {plural(result['verified'], 'entry', 'entries')}, head {result['head'][:16]}")
        return
    table([(e["id"], e["at"][:19], e["user"], e["action"], _about(e), e["alias"] or "", json.dumps(e["detail"], sort_keys=True))
           for e in result["entries"]], ["#", "AT", "USER", "ACTION", "ABOUT", "ALIAS", "DETAIL"])


def _about(entry: Result) -> str:
    """What an audit entry is about, most specific first: a version, a collection, a registry."""
    if entry["version"] or entry["collection"]:
        return str(entry["version"] or entry["collection"])
    return f"registry {entry['registry']}" if entry["registry"] else "-"


@command("registry", lambda r: _show_registry(r), creates=lambda args: args.action != "ls" and bool(args.action != "member" or args.member))
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
                      keep_destination_aliases=args.keep_destination_aliases, progress=progress, blobs=args.blobs)
    finally:
        progress.close()
    verb = "exported" if is_bundle(args.dst) else "imported" if is_bundle(args.src) else "copied"
    return {"verb": verb, "src": args.src, "dst": args.dst, **_report_dict(report)}


def _report_dict(report: CopyReport) -> Result:
    fields = {k: v for k, v in vars(report).items() if k not in ("copied", "aliases_kept", "runs_renamed")}
    return {**fields, "aliases_kept": list(report.aliases_kept), "runs_renamed": list(report.runs_renamed),
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
              f"{result['blobs_sent']} blobs ({human_size(result['bytes_sent'])}) sent"
              + (f", {result['blobs_shared']} taken from the blob store both share" if result["blobs_shared"] else ""))
    for item in result["copied"][:COPIED_SHOWN]:
        where = f" -> {item['destination']}" if item["destination"] else ""
        print(f"  {item['source']}{where}  ({item['outcome']})")
    if len(result["copied"]) > COPIED_SHOWN:
        print(f"  ... and {len(result['copied']) - COPIED_SHOWN} more (--json lists them all)")
    for alias in result["aliases_kept"]:
        print(f"  kept {alias} where it was at the destination (--keep-destination-aliases)")
    for renamed in result["runs_renamed"]:
        print(f"  run {renamed}: its id was taken at the destination by another run")


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


