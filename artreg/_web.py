"""``artreg ui``: a read-only local web view of one registry (SPEC §19).

Every page is one read-only CLI command run on the open registry (``cli.run_command``), so
``?format=json`` returns exactly what ``artreg <command> --json`` prints, and the page
footer names that command. The HTML is rendered by Jinja2 templates with autoescaping on
(nothing is escaped by hand), routing is Werkzeug's, and the server is waitress. The
registry is opened with ``read_only=True``: SQLite refuses writes on the connection.

Pages reference nothing outside themselves: one inline stylesheet, no scripts, no fonts,
and a Content-Security-Policy that lets the browser load nothing else. The Host header
must name the address served (or ``localhost``), so a web page elsewhere cannot reach the
registry by rebinding its DNS name to this machine.
"""

from __future__ import annotations

import json
import shlex
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import waitress
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.wrappers import Request, Response

from . import _errors as errors
from ._lineage import LineageEdge, LineageGraph, LineageNode
from ._names import REGISTRY_PROJECT_PREFIX
from ._render import human_size
from .cli import json_document, run_command

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ._registry import Registry

VERSIONS_PAGE = 50  # versions listed per page (the CLI's default)
FILES_PAGE = 500  # manifest entries per page of a version
DIFF_ROWS = 1000  # rows of each list a compare page shows (the JSON twin has them all)
SEARCH_LIMIT = 50
LINEAGE_DEPTH = 4  # hops each way drawn on a version's page: two generations of runs
STATUS = {errors.NotFound: 404, errors.PermissionDenied: 403, errors.InvalidName: 400}
HEADERS = {
    # Nothing may load from anywhere, not even this server: the pages are self-contained.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")

READ = ["GET"]  # and HEAD: anything else is 405
ROUTES = Map([
    Rule("/", endpoint="registries", methods=READ),
    Rule("/projects", endpoint="projects", methods=READ),
    Rule("/projects/<project>", endpoint="collections", methods=READ),
    Rule("/collections/<project>/<name>", endpoint="versions", methods=READ),
    Rule("/versions/<path:ref>", endpoint="version", methods=READ),
    Rule("/lineage/<path:ref>", endpoint="lineage", methods=READ),
    Rule("/compare", endpoint="compare", methods=READ),
    Rule("/search", endpoint="search", methods=READ),
], strict_slashes=False)


class Page:
    """What one view produced: the command's result, its argv, the template and extras."""

    def __init__(self, template: str, title: str, argv: list[str] | None, result: dict[str, Any] | None, **extra: Any) -> None:
        self.template, self.title, self.argv, self.result, self.extra = template, title, argv, result, extra


class WebApp:
    """The WSGI application over one open (read-only) registry."""

    def __init__(self, reg: Registry, *, hosts: Iterable[str] | None = LOOPBACK) -> None:
        self.reg = reg
        self.hosts = None if hosts is None else list(hosts)
        self.templates = Environment(
            loader=PackageLoader("artreg", "templates"), autoescape=True, undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True,
        )
        self.templates.filters["size"] = _human_size
        self.templates.filters["json"] = _json_text

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if self.hosts is not None:
            request.trusted_hosts = self.hosts
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        adapter = ROUTES.bind_to_environ(request.environ)
        wants_json = request.args.get("format") == "json"
        try:
            _ = request.host  # SecurityError (400) for a Host header naming somewhere else
            endpoint, values = adapter.match()
            view: Callable[..., Page] = getattr(self, f"view_{endpoint}")
            page = view(request, **values)
        except HTTPException as exc:
            return self.error(adapter, wants_json, exc.code or 500, exc.description or exc.name)
        except errors.ArtregError as exc:
            status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)
            return self.error(adapter, wants_json, status, str(exc))
        if wants_json:
            if page.result is None:
                return self.error(adapter, True, 400, f"the {page.title} page needs its query parameters for JSON")
            return _response(json_document(page.result) + "\n", 200, "application/json")
        command = None if page.argv is None else "artreg " + shlex.join([*page.argv, "--json"])
        json_url = None if page.result is None else adapter.build(endpoint, {**values, **request.args.to_dict(), "format": "json"})
        html = self.templates.get_template(page.template).render(
            title=page.title, result=page.result, command=command, json_url=json_url, url=adapter.build,
            user=self.reg.user, registry_path=self.reg.path, **page.extra,
        )
        return _response(html, 200, "text/html")

    def error(self, adapter: MapAdapter, as_json: bool, status: int, message: str) -> Response:
        if as_json:
            return _response(json_document({"error": message, "status": status}) + "\n", status, "application/json")
        html = self.templates.get_template("error.html").render(
            title=f"{status}", status=status, message=message, result=None, command=None, json_url=None, url=adapter.build,
            user=self.reg.user, registry_path=self.reg.path,
        )
        return _response(html, status, "text/html")

    # -- views: each runs one read-only command ------------------------------------------

    def run(self, argv: list[str]) -> dict[str, Any]:
        return run_command(self.reg, argv)

    def view_registries(self, request: Request) -> Page:
        argv = ["registry", "ls"]
        result = self.run(argv)
        return Page("registries.html", "Registries", argv, result, prefix=REGISTRY_PROJECT_PREFIX)

    def view_projects(self, request: Request) -> Page:
        argv = ["ls"]
        return Page("collections.html", "Projects", argv, self.run(argv), project=None, registry=None)

    def view_collections(self, request: Request, project: str) -> Page:
        argv = ["ls", project]
        registry = project[len(REGISTRY_PROJECT_PREFIX):] if project.startswith(REGISTRY_PROJECT_PREFIX) else None
        title = f"Registry {registry}" if registry else f"Project {project}"
        return Page("collections.html", title, argv, self.run(argv), project=project, registry=registry)

    def view_versions(self, request: Request, project: str, name: str) -> Page:
        offset, limit = _int_arg(request, "offset", 0), _int_arg(request, "limit", VERSIONS_PAGE)
        argv = ["versions", f"{project}/{name}", "--offset", str(offset), "--limit", str(limit)]
        result = self.run(argv)
        return Page("versions.html", f"{project}/{name}", argv, result, pages=_pages(offset, limit, result["collection"]["versions"]))

    def view_version(self, request: Request, ref: str) -> Page:
        path = request.args.get("path") or None
        offset, limit = _int_arg(request, "offset", 0), _int_arg(request, "limit", FILES_PAGE)
        argv = ["show", ref, "--offset", str(offset), "--limit", str(limit), *(["--path", path] if path else [])]
        result = self.run(argv)
        version = self.reg.artifact(result["version"]["ref"])
        svg = version.lineage("both", depth=LINEAGE_DEPTH).to_svg(href=self.version_link(request))
        total = result["files_total"] or 0
        return Page(
            "version.html", result["version"]["ref"], argv, result, lineage_svg=Markup(svg),  # noqa: S704  built by ElementTree, which escapes
            tree=_tree(result["files"] or [], path), folder=path, pages=_pages(offset, limit, total),
            depth=LINEAGE_DEPTH,
        )

    def view_lineage(self, request: Request, ref: str) -> Page:
        direction = request.args.get("direction", "both")
        depth = request.args.get("depth")
        argv = ["lineage", ref, "--direction", direction, *(["--depth", depth] if depth else [])]
        result = self.run(argv)
        svg = _graph(result["graph"]).to_svg(href=self.version_link(request))
        return Page("lineage.html", f"Lineage of {ref}", argv, result, lineage_svg=Markup(svg), ref=ref,  # noqa: S704
                    direction=direction, depth=depth or "")

    def view_compare(self, request: Request) -> Page:
        old, new = request.args.get("a", "").strip(), request.args.get("b", "").strip()
        unchanged = request.args.get("unchanged") == "1"
        if not old or not new:
            return Page("compare.html", "Compare", None, None, a=old, b=new, unchanged=unchanged, rows=DIFF_ROWS)
        argv = ["diff", old, new, *(["--unchanged"] if unchanged else [])]
        return Page("compare.html", f"{old} \u2192 {new}", argv, self.run(argv), a=old, b=new, unchanged=unchanged, rows=DIFF_ROWS)

    def view_search(self, request: Request) -> Page:
        text = request.args.get("q", "").strip()
        if not text:
            return Page("search.html", "Search", None, None, q="", prefix=REGISTRY_PROJECT_PREFIX)
        argv = ["search", text, "--limit", str(_int_arg(request, "limit", SEARCH_LIMIT))]
        return Page("search.html", f"Search: {text}", argv, self.run(argv), q=text, prefix=REGISTRY_PROJECT_PREFIX)

    def version_link(self, request: Request) -> Callable[[LineageNode], str | None]:
        adapter = ROUTES.bind_to_environ(request.environ)

        def link(node: LineageNode) -> str | None:
            if node.kind != "version" or node.detail.get("state") != "committed":
                return None
            return adapter.build("version", {"ref": node.label})

        return link


def _response(body: str, status: int, mimetype: str) -> Response:
    response = Response(body, status=status, mimetype=mimetype)
    response.headers.update(HEADERS)
    return response


def _int_arg(request: Request, name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise BadRequest(f"{name} must be a non-negative whole number, not {text!r}")
    return int(text)


def _pages(offset: int, limit: int, total: int) -> dict[str, Any]:
    """Where this page is among ``total`` items, and the offsets of its neighbours."""
    return {
        "first": offset + 1 if total else 0, "last": min(offset + limit, total), "total": total, "limit": limit,
        "previous": max(offset - limit, 0) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
    }


def _tree(files: list[dict[str, Any]], folder: str | None) -> dict[str, Any]:
    """A page of manifest entries (path order) as nested folders: ``{"dirs": {name: tree}, "files": [...]}``."""
    root: dict[str, Any] = {"dirs": {}, "files": [], "path": ""}
    base = folder.strip("/") + "/" if folder and folder.strip("/") else ""
    for entry in files:
        parts = entry["path"][len(base):].split("/")
        node = root
        for i, part in enumerate(parts[:-1]):
            node = node["dirs"].setdefault(part, {"dirs": {}, "files": [], "path": base + "/".join(parts[: i + 1])})
        node["files"].append({**entry, "name": parts[-1]})
    return root


def _graph(data: dict[str, Any]) -> LineageGraph:
    """A LineageGraph back from ``to_dict()`` (the lineage command's JSON)."""
    nodes = tuple(LineageNode(n["id"], n["kind"], n["label"], n["detail"]) for n in data["nodes"])
    edges = tuple(LineageEdge(e["source"], e["target"], e["kind"]) for e in data["edges"])
    return LineageGraph(data["root"], nodes, edges)


def _human_size(size: int | None) -> str:
    return "-" if size is None else human_size(size)


def _json_text(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)


def serve(reg: Registry, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False) -> str:
    """Serve the web view until interrupted (Ctrl-C or SIGTERM); returns its URL.

    Prints one line with the URL first (with ``port=0`` the system picks a free port).
    """
    if not reg.read_only:
        raise errors.InvalidName("the web view serves a registry opened with read_only=True")
    server: Any = waitress.create_server(WebApp(reg, hosts=_hosts(host)), host=host, port=port, threads=4, ident="artreg")
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.effective_port}/"
    if host not in LOOPBACK:
        print(f"artreg ui: listening on {host}: anyone who can reach it can read this registry", file=sys.stderr)
    print(f"artreg ui: {reg.path} as {reg.user!r}, read-only, at {url} (Ctrl-C stops)", flush=True)
    if open_browser:
        webbrowser.open(url)
    # SIGTERM stops it like Ctrl-C (signal handlers can only be set on the main thread).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        server.close()
    return url


def _hosts(host: str) -> list[str] | None:
    """Host header values accepted on a loopback address: its names (None: any, when served beyond this machine)."""
    return [host, *LOOPBACK] if host in LOOPBACK else None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
