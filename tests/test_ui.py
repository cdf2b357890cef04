"""``artreg ui`` over HTTP: every page, its JSON twin, roles, escaping, 404s, and that it never writes.

The server runs as a child process (``artreg ui --port 0``) on 127.0.0.1 and is stopped by
its pid at the end of the module; requests go through the standard library's HTTP client.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shlex
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

import artreg
from artreg import cli
from uiserver import BIG_FILES, HOSTILE, Server, build, serving

# (page, what it must show): every page of the view, for the admin.
PAGES = {
    "/": "vault",
    "/projects": "zoo_dataset",
    "/projects/zoo": "zoo_model",
    "/projects/wandb-registry-model": "Zoo",
    "/collections/zoo/zoo_dataset": "v1",
    "/collections/wandb-registry-model/Zoo": "production",
    "/versions/zoo/zoo_dataset:v0": "zoo.csv",
    "/versions/wandb-registry-model/Zoo:production": "model.json",
    "/versions/zoo/big:v0?offset=500&limit=500": "file00500.txt",
    "/versions/zoo/big:v0?path=part1": "file00400.txt",
    "/lineage/zoo/zoo_dataset:v0?direction=downstream": "train-zoo",
    "/compare?a=zoo/zoo_dataset:v0&b=zoo/zoo_dataset:v1": "config.lr",
    "/compare?a=zoo/zoo_dataset:v0&b=zoo/zoo_dataset:v1&unchanged=1": "images/cat.png",
    "/search?q=zoo*": "zoo_dataset",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui") / "reg"
    build(path)
    return path


@pytest.fixture(scope="module")
def admin(registry: Path) -> Iterator[Server]:
    with serving(registry, "admin") as server:
        yield server


@pytest.fixture(scope="module")
def eve(registry: Path) -> Iterator[Server]:
    with serving(registry, "eve") as server:
        yield server


class Links(HTMLParser):
    """Every URL a page would make the browser load or follow, and every tag used."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("href", "src", "action", "srcset", "poster", "data")]


def cli_json(capsys: pytest.CaptureFixture[str], server: Server, argv: list[str]) -> str:
    capsys.readouterr()
    assert cli.main(["--registry", str(server.path), "--user", server.user, *argv]) == 0
    return capsys.readouterr().out


def footer_command(page: str) -> list[str]:
    found = re.search(r'<code class="command">([^<]*)</code>', page)
    assert found, "the page names its command"
    argv = shlex.split(html.unescape(found.group(1)))
    assert argv[0] == "artreg" and argv[-1] == "--json"
    return argv[1:]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_renders_and_its_json_twin_is_the_cli_output(admin: Server, page: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, headers, body = admin.get(page)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert PAGES[page] in body
    argv = footer_command(body)
    twin_status, twin_headers, twin = admin.get(page + ("&" if "?" in page else "?") + "format=json")
    assert twin_status == 200 and twin_headers["Content-Type"] == "application/json"
    assert twin == cli_json(capsys, admin, argv)  # byte for byte what `artreg ... --json` prints
    json.loads(twin)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_pages_load_nothing_from_elsewhere_and_escape_hostile_strings(admin: Server, page: str) -> None:
    _, headers, body = admin.get(page)
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "http" not in policy
    parser = Links()
    parser.feed(body)
    assert not parser.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert all(url.startswith("/") and not url.startswith("//") for url in parser.urls), parser.urls
    assert "<script" not in body and "http" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")


def element(page: str, marker: str, close: str) -> str:
    """The text of the element opened by ``marker``, unescaped (so it is what a browser shows)."""
    found = re.search(re.escape(marker) + r"(.*?)" + re.escape(close), page, re.S)
    assert found, marker
    return html.unescape(found.group(1))


def test_hostile_strings_are_shown_escaped(admin: Server) -> None:
    _, _, version = admin.get("/versions/zoo/zoo_dataset:v0")
    assert element(version, '<dd id="description">', "</dd>") == f"animals {HOSTILE}"
    assert json.loads(element(version, '<pre id="metadata">', "</pre>"))[HOSTILE] == HOSTILE
    _, _, lineage = admin.get("/lineage/zoo/zoo_dataset:v0")
    assert f"prep {HOSTILE}" in element(lineage, '<div class="graph" id="lineage">', "</div>")  # a run's name, in the SVG
    _, _, registries = admin.get("/")
    assert f"vault {HOSTILE}" in element(registries, '<table id="registries">', "</table>")
    for page in (version, lineage, registries):
        assert "<script" not in page
    status, _, missing = admin.get("/versions/zoo/" + "%3Cscript%3E")
    assert status in (400, 404) and "<script" not in missing


def test_a_version_page_shows_its_parts(admin: Server) -> None:
    _, _, page = admin.get("/versions/zoo/zoo_dataset:v1")
    for part in ('id="files"', 'id="metadata"', 'id="aliases"', 'id="tags"', 'id="alias-history"', 'id="audit"'):
        assert part in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page and 'data-id="version:' in page
    assert 'href="/versions/zoo/zoo_dataset:v0"' in page  # lineage nodes link to their versions
    assert "images/" in page and "cat.png" in page  # the files as a tree: a folder, then its files
    assert "version_logged" in page and "tags_changed" not in page.split('id="audit"')[0]


def test_a_huge_manifest_is_paged_never_listed_whole(admin: Server) -> None:
    _, _, first = admin.get("/versions/zoo/big:v0")
    rows = re.findall(r'<li><span class="mono">file(\d+)\.txt', first)
    assert len(rows) == 500 and rows[0] == "00000" and rows[-1] == "00499"
    assert f"1–500 of {BIG_FILES:,}" in first and "offset=500" in first
    twin = json.loads(admin.get("/versions/zoo/big:v0?format=json")[2])
    assert len(twin["files"]) == 500 and twin["files_total"] == BIG_FILES
    _, _, last = admin.get("/versions/zoo/big:v0?offset=1000")
    assert len(re.findall(r"file\d+\.txt", last)) == BIG_FILES - 1000 and "older →" not in last
    folder = json.loads(admin.get("/versions/zoo/big:v0?path=part2&format=json")[2])
    assert folder["files_total"] == 400 and folder["files"][0]["path"] == "part2/file00800.txt"


def test_collections_page_through_versions(admin: Server, registry: Path) -> None:
    status, _, page = admin.get("/collections/zoo/zoo_dataset?limit=1")
    assert status == 200 and "1–1 of 2" in page and "offset=1" in page
    twin = json.loads(admin.get("/collections/zoo/zoo_dataset?limit=1&offset=1&format=json")[2])
    assert [v["version"] for v in twin["versions"]] == ["v0"] and twin["collection"]["versions"] == 2


@pytest.mark.parametrize(("page", "message"), [
    ("/versions/zoo/nothing:v0", "no artifact zoo/nothing"),
    ("/versions/zoo/zoo_dataset:v9", "has no version 'v9'"),
    ("/versions/zoo/zoo_dataset:nope", "has no alias 'nope'"),
    ("/collections/zoo/nothing", "no artifact collection zoo/nothing"),
    ("/projects/nothing", "no project named 'nothing'"),
    ("/projects/wandb-registry-nothing", "no registry named 'nothing'"),
    ("/lineage/zoo/nothing", "no artifact zoo/nothing"),
    ("/compare?a=zoo/zoo_dataset:v0&b=zoo/nothing", "no artifact zoo/nothing"),
    ("/no/such/page", "not found"),
])
def test_unknown_refs_are_404_pages_with_a_clear_message(admin: Server, page: str, message: str) -> None:
    status, headers, body = admin.get(page)
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert message.lower() in html.unescape(body).lower() and "Not found" in body
    twin_status, _, twin = admin.get(page + ("&" if "?" in page else "?") + "format=json")
    assert twin_status == 404 and json.loads(twin)["status"] == 404


def test_bad_input_is_a_400_page(admin: Server) -> None:
    for page in ("/collections/zoo/zoo_dataset?offset=abc", "/search?q=%22unclosed", "/lineage/zoo/zoo_dataset?direction=sideways",
                 "/versions/zoo/big:v0?path=../x"):
        status, _, body = admin.get(page)
        assert status == 400 and "Bad request" in body, page
    assert admin.get("/compare?format=json")[0] == 400


def test_roles_a_restricted_viewer_sees_metadata_and_no_registry_without_a_role(eve: Server) -> None:
    _, _, registries = eve.get("/")
    assert "vault" in registries and "secret" not in registries
    assert json.loads(eve.get("/?format=json")[2])["registries"][-1]["name"] == "vault"
    status, _, forbidden = eve.get("/projects/wandb-registry-secret")
    assert status == 403 and "not a member of registry" in html.unescape(forbidden)
    assert eve.get("/versions/wandb-registry-secret/Hidden:v0")[0] == 403
    _, _, hits = eve.get("/search?q=Hidden")
    assert 'id="hits"' not in hits and 'id="no-hits"' in hits
    status, _, kept = eve.get("/versions/wandb-registry-vault/Kept:staging")
    assert status == 200 and 'id="files-hidden"' in kept and "model.json" not in kept
    assert 'id="metadata"' in kept or "none" in kept
    twin = json.loads(eve.get("/versions/wandb-registry-vault/Kept:staging?format=json")[2])
    assert twin["files"] is None and "restricted_viewer" in twin["files_hidden"]
    diff = json.loads(eve.get("/compare?a=wandb-registry-vault/Kept:v0&b=zoo/zoo_model:v0&format=json")[2])
    assert diff["files"] is None


def test_requests_for_another_host_are_refused(admin: Server) -> None:
    """A page elsewhere that rebinds its DNS name to 127.0.0.1 still cannot read the registry."""
    assert admin.get("/", headers={"Host": "evil.example"})[0] == 400
    port = admin.url.rstrip("/").rsplit(":", 1)[1]
    assert admin.get("/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_the_view_never_writes(registry: Path, admin: Server, eve: Server) -> None:
    before = hashlib.sha256((registry / "registry.db").read_bytes()).hexdigest()
    with artreg.open(registry, read_only=True) as reg:
        head = reg.audit.head()
    for server in (admin, eve):
        for page in PAGES:
            server.get(page)
            server.get(page + ("&" if "?" in page else "?") + "format=json")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert server.get("/versions/zoo/zoo_dataset:v0", method=method)[0] == 405
    assert hashlib.sha256((registry / "registry.db").read_bytes()).hexdigest() == before
    with artreg.open(registry, read_only=True) as reg:
        assert reg.audit.head() == head


def test_only_read_only_commands_back_pages(registry: Path) -> None:
    from artreg._web import WebApp

    with artreg.open(registry, read_only=True, user="admin") as reg:
        app = WebApp(reg)
        with pytest.raises(artreg.InvalidName, match="not a read-only command"):
            app.run(["delete", "zoo/zoo_dataset:v0"])
        with pytest.raises(artreg.InvalidName, match="not a read-only command"):
            app.run(["registry", "create", "x"])
        with pytest.raises(artreg.PermissionDenied, match="read-only"):
            cli.COMMANDS["tag"][0](reg, cli.build_parser().parse_args(["tag", "add", "zoo/zoo_dataset", "gold"]))
