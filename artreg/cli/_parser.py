"""The argparse parser of every subcommand and its options."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any, NoReturn

from .. import _errors as errors
from .._registry import default_home
from .._version import __version__


class UsageError(Exception):
    """A command line argparse cannot parse (exit 2), raised instead of exiting so ``--json`` can report it."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage(), self.prog)


def build_parser(parser_class: type[argparse.ArgumentParser] = _Parser) -> argparse.ArgumentParser:
    common = parser_class(add_help=False)
    common.add_argument("--registry", default=argparse.SUPPRESS, metavar="PATH",
                        help=f"registry folder, database file or postgresql:// catalog (default: $ARTREG_HOME or {default_home()}); "
                             "only commands that write create one")
    common.add_argument("--user", default=argparse.SUPPRESS, help="act as this user (default: $ARTREG_USER or the login name)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document on stdout (errors: a JSON object on stderr)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = parser_class(prog="artreg", description="An embedded artifact registry.", parents=[common])
    parser.add_argument("--version", action="version", version=f"artreg {__version__}", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=parser_class)

    def add(name: str, help: str, group: Any = sub) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help, description=help, parents=[common])
        return parser

    ref_help = "[project/]name[:vN|alias] (default :latest); wandb-registry-<registry>/<collection> for a link"
    add("demo", "log a small dataset and a model trained on it, through runs, with aliases (again: nothing new)")
    p = add("put", "log a file, folder or URI as a new version (like wandb artifact put)")
    p.add_argument("path", help="a local file or folder, or a URI (file://, http(s)://, s3://) to log as a reference")
    p.add_argument("-n", "--name", help="[project/]name (default: the path's last part, in 'uncategorized')")
    p.add_argument("-t", "--type", default="dataset", help="artifact type (default: dataset)")
    p.add_argument("-a", "--alias", action="append", default=[], help="an alias for the new version (repeat -a for more)")
    p.add_argument("--tag", action="append", default=[], help="a tag for the new version (repeat for more)")
    p.add_argument("-d", "--description", help="a description of the version")
    p.add_argument("--metadata", help="a JSON object")
    p = add("get", "download a version (like wandb artifact get)")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--root", help="where to put the files (default ./artifacts/<name>:<version>)")
    p.add_argument("--link", default="copy", choices=["copy", "hardlink", "symlink", "reflink", "auto"],
                   help="how files are placed: copies (default) or links into the store")
    p = add("ls", "list collections with their latest version")
    p.add_argument("project", nargs="?", help="only this project's (or wandb-registry-<name>'s) collections")
    p.add_argument("--type", help="only collections of this type")
    p = add("show", "a version in detail: aliases, tags, metadata, files, lineage, alias history, audit")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--path", help="only the files under this folder")
    p.add_argument("--offset", type=int, default=0, help="skip this many files")
    p.add_argument("--limit", type=int, help="show at most this many files (default: all)")
    p = add("versions", "list the versions of a collection, newest first")
    p.add_argument("collection", help="project/name, or wandb-registry-<registry>/<collection>")
    p.add_argument("--offset", type=int, default=0, help="skip this many versions")
    p.add_argument("--limit", type=int, default=50, help="at most this many versions (default 50)")
    p = add("diff", "what changes from one version to another: files, metadata, aliases, tags")
    p.add_argument("old", help=f"the version compared from: {ref_help}")
    p.add_argument("new", help="the version compared to")
    p.add_argument("--unchanged", action="store_true", help="also list the files both hold alike")
    for name, what in (("alias", "aliases"), ("tag", "tags")):
        p = add(name, f"add or remove {what}")
        p.add_argument("action", choices=["add", "rm"], help=f"add or rm (remove) the {what}")
        p.add_argument("ref", help=ref_help)
        p.add_argument(what, nargs="+", help=f"one or more {what}")
    p = add("link", "link a version into a registry collection")
    p.add_argument("ref", help=f"the version to link: {ref_help}")
    p.add_argument("target", help="[org/]wandb-registry-<registry>/<collection>")
    p.add_argument("-a", "--alias", action="append", default=[], help="an alias for the link (repeat -a for more)")
    add("unlink", "remove a link from its registry").add_argument("ref", help="the link: wandb-registry-<registry>/<collection>[:vN|alias]")
    p = add("delete", "delete a version (soft: its index stays reserved)")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--delete-aliases", action="store_true", help="also drop the aliases it holds (latest included); without it, refused")
    p = add("lineage", "runs and versions upstream and downstream of a version")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--format", default="text", choices=["text", "json", "dot", "mermaid", "svg"],
                   help="text (default), json, dot (Graphviz), mermaid or svg (a picture)")
    p.add_argument("--depth", type=int, help="at most this many hops (default: all)")
    p.add_argument("--direction", default="both", choices=["both", "upstream", "downstream"], help="default: both")
    p = add("search", "find registries, collections and versions by name, description, alias or tag")
    p.add_argument("text", help="words (all must match a field), zoo* for a prefix, \"a phrase\", AND/OR/NOT")
    p.add_argument("--kind", action="append", choices=["registry", "collection", "version"], help="only these (repeatable)")
    p.add_argument("--limit", type=int, default=50, help="at most this many hits (default: 50)")
    p = add("verify", "rehash a version's stored blobs, or a downloaded tree")
    p.add_argument("ref", help=ref_help)
    p.add_argument("--root", help="a downloaded folder to check (default: the stored blobs)")
    add("check", "integrity-check the database and every blob").add_argument(
        "--fix", action="store_true", help="remove orphan blob files and damaged cached copies it finds")
    p = add("gc", "remove blobs no live version references")
    p.add_argument("--dry-run", action="store_true", help="say what would be freed, free nothing")
    p.add_argument("--grace", type=_duration, default=timedelta(hours=24), metavar="DURATION",
                   help="with blobs in a bucket: keep unreferenced objects younger than this (e.g. 24h, 90m, 0; default 24h)")
    p = add("blobs", "where the registry keeps its larger blobs; move them to an S3 bucket prefix")
    p.add_argument("action", nargs="?", choices=["show", "move"], default="show", help="show (default) or move")
    p.add_argument("url", nargs="?", help="s3://bucket/prefix (for move)")
    p = add("cache", "the local cache of a registry whose blobs are in a bucket: du, or prune it")
    p.add_argument("action", choices=["du", "prune"], help="du (how much it holds) or prune (evict least recently used)")
    p.add_argument("--size", help="prune down to this size (e.g. 10GB, 500MiB, 0; default: the cache's bound)")
    add("expire", "delete versions whose TTL has run out").add_argument(
        "--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    p = add("audit", "show or verify the audit log")
    p.add_argument("--verify", action="store_true", help="check the hash chain instead of listing")
    p.add_argument("--action", help="only entries of this action (version_logged, alias_added, ...)")
    p.add_argument("--limit", type=int, default=50, help="the last N entries (default: 50; 0: all)")
    p = add("registry", "registries: create, ls, protect, member")
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=parser_class)
    r = add("create", "create a registry (you become its admin)", rsub)
    r.add_argument("name", help="the registry's name (reached as wandb-registry-<name>/<collection>)")
    r.add_argument("--type", action="append", help="an accepted artifact type (repeatable; default: all types)")
    r.add_argument("--description", help="what the registry holds")
    r.add_argument("--visibility", default="organization", choices=["organization", "restricted"],
                   help="organization (default: every user has the default role) or restricted (members only)")
    add("ls", "list the registries you can see", rsub)
    r = add("protect", "protect aliases in a registry: only its admins may add or remove them", rsub)
    r.add_argument("name", help="the registry's name")
    r.add_argument("aliases", nargs="+", help="one or more aliases")
    r.add_argument("--remove", action="store_true", help="unprotect them instead")
    r = add("member", "list a registry's members, or set or remove one's role", rsub)
    r.add_argument("name", help="the registry's name")
    r.add_argument("member", nargs="?", metavar="USER", help="the user (omit to list members)")  # not "user": that is --user
    r.add_argument("role", nargs="?", choices=["restricted_viewer", "viewer", "member", "admin"],
                   help="restricted_viewer, viewer, member or admin")
    r.add_argument("--remove", action="store_true", help="remove USER from the registry")
    p = add("ui", "a read-only web view of the registry, in a browser")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port; default 8765)")
    p.add_argument("--open", action="store_true", help="open the web view in the default browser")
    p = add("copy", "copy versions between registries and bundle files (.tar, or - for stdin/stdout)")
    p.add_argument("src", help="a registry (folder, .db file or postgresql:// catalog), a bundle (.tar), or - for a bundle on stdin")
    p.add_argument("dst", help="a registry (created when missing; a postgresql:// catalog in an existing database), "
                               "a bundle (.tar), or - for a bundle on stdout")
    p.add_argument("refs", nargs="*", metavar="REF", help="versions to copy from a registry, with their links and runs (default: all)")
    p.add_argument("--basis", action="append", default=[], metavar="BUNDLE",
                   help="a bundle the receiver has imported already: what it carried is left out (repeatable)")
    p.add_argument("--keep-destination-aliases", action="store_true",
                   help="leave an alias where it is when another version holds it at the destination")
    p.add_argument("--blobs", metavar="LOCATION",
                   help="where a destination created by the copy keeps its blobs: s3://bucket/prefix, or for a "
                        "postgresql:// catalog a folder all its machines reach")
    p = add("bundle", "check a bundle file on its own")
    bsub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=parser_class)
    b = add("verify", "read the whole bundle and check every record and blob", bsub)
    b.add_argument("file", help="a bundle (.tar), or - for stdin")
    return parser



def _duration(text: str) -> timedelta:
    """A duration for --grace: a number with an optional unit s, m, h or d (hours when none)."""
    unit = text[-1:].lower() if text[-1:].isalpha() else "h"
    number = text[:-1] if text[-1:].isalpha() else text
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 24h, 90m or 0)") from None
    if unit not in "smhd" or value < 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 24h, 90m or 0)")
    return timedelta(seconds=value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])



class _Refusing(argparse.ArgumentParser):
    """A parser that raises InvalidName instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise errors.InvalidName(message)


