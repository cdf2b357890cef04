"""Opening a registry: where it lives, what is refused, and a relative path resolved once (SPEC §2, §21, §23)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import artreg
from conftest import child_env, make


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` on a new thread; its result, or its exception re-raised here."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["result"]


# -- what is there decides; a new path by its name -------------------------------------------


@pytest.mark.parametrize("name", ["reg", "deep/er/reg", "team.sqlite3", "zoo.db", "zoo.sqlite", "x.db3", "Team.SQLITE3"])
def test_a_missing_path_without_create_is_not_found_and_nothing_is_made(tmp_path: Path, name: str) -> None:
    before = listing(tmp_path)
    with pytest.raises(artreg.NotFound, match=str(tmp_path / name).replace(".", r"\.")):
        artreg.open(tmp_path / name, create=False)
    assert listing(tmp_path) == before


def test_a_folder_without_a_registry_is_not_found_without_create(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(artreg.NotFound, match="has no registry.db"):
        artreg.open(tmp_path / "empty", create=False)
    assert listing(tmp_path / "empty") == []


@pytest.mark.parametrize("name", ["team.sqlite3", "zoo.db", "zoo.sqlite", "x.db3", "Team.SQLITE3"])
def test_a_new_path_with_a_database_suffix_becomes_a_file(tmp_path: Path, name: str) -> None:
    with artreg.open(tmp_path / name, inline_limit=0) as reg:
        reg.log_artifact(make(a="alpha"), project="p")
        assert reg.path == str(tmp_path / name)
        assert reg.objects == tmp_path / f"{name}.objects"
    assert (tmp_path / name).is_file()
    with artreg.open(tmp_path / name, create=False) as reg, reg.artifact("p/ds").open("a") as f:
        assert f.read() == b"alpha"


@pytest.mark.parametrize("name", ["reg", "reg.v2", "2024.05"])
def test_a_new_path_with_another_name_becomes_a_folder(tmp_path: Path, name: str) -> None:
    with artreg.open(tmp_path / name) as reg:
        assert reg.path == str(tmp_path / name / "registry.db")
    assert (tmp_path / name).is_dir() and (tmp_path / name / "registry.db").is_file()


def test_an_existing_folder_is_a_folder_registry_whatever_its_name(tmp_path: Path) -> None:
    (tmp_path / "looks.db").mkdir()
    with artreg.open(tmp_path / "looks.db") as reg:
        assert reg.path == str(tmp_path / "looks.db" / "registry.db")


def test_an_existing_registry_file_is_used_whatever_its_name(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "team.sqlite3", inline_limit=0) as reg:
        reg.log_artifact(make(a="alpha"), project="p")
    (tmp_path / "team.sqlite3").rename(tmp_path / "team.backup")
    with artreg.open(tmp_path / "team.backup", create=False) as reg:
        assert reg.path == str(tmp_path / "team.backup")
        assert reg.objects == tmp_path / "team.sqlite3.objects"  # fixed in the file when it was made
        reg.artifact("p/ds").verify()
    assert not (tmp_path / "team.backup.objects").exists()


def test_the_default_registry_is_not_created_without_create(tmp_path: Path) -> None:
    with pytest.raises(artreg.NotFound, match=str(tmp_path / "home")):
        artreg.open(create=False)
    assert not (tmp_path / "home").exists()
    artreg.open().close()
    artreg.open(create=False).close()


@pytest.mark.parametrize(("url", "says"), [
    ("s3://bucket/prefix", "blobs='s3://bucket/prefix'"),
    ("file:///srv/registry", "without file://"),
    ("https://example.com/registry", "a folder or a .db file"),
])
def test_a_url_is_refused_and_no_folder_is_made_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, says: str) -> None:
    """``open("postgresql://…")`` once made a folder named "postgresql:" and an empty registry in it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(artreg.InvalidName, match=says):
        artreg.open(url)
    result = subprocess.run([sys.executable, "-m", "artreg", "--registry", url, "ls"],
                            capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=60)
    assert result.returncode == 4, result.stderr
    assert says in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_memory_is_always_new(tmp_path: Path) -> None:
    with artreg.open(":memory:", create=False) as reg:
        assert reg.log_artifact(make(a="x")).name == "ds:v0"


# -- what is not a registry -----------------------------------------------------------------


@pytest.mark.parametrize("create", [True, False])
def test_a_plain_file_is_a_schema_error_naming_it_and_is_left_alone(tmp_path: Path, create: bool) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a registry\n")
    with pytest.raises(artreg.SchemaError, match="notes.txt.*not an SQLite database"):
        artreg.open(notes, create=create)
    assert notes.read_text() == "not a registry\n"
    assert listing(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize("create", [True, False])
def test_dev_null_is_a_schema_error_never_file_exists(create: bool) -> None:
    journal = os.path.exists("/dev/null-journal")
    with pytest.raises(artreg.SchemaError, match="'/dev/null' is a device"):
        artreg.open("/dev/null", create=create)
    assert os.path.exists("/dev/null-journal") == journal


def test_a_registry_db_linked_to_dev_null_is_refused_before_sqlite_touches_it(tmp_path: Path) -> None:
    journal = os.path.exists("/dev/null-journal")
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "registry.db").symlink_to("/dev/null")
    with pytest.raises(artreg.SchemaError, match="symbolic link to '/dev/null'.*a device"):
        artreg.open(tmp_path / "reg")
    assert os.path.exists("/dev/null-journal") == journal
    assert listing(tmp_path / "reg") == ["registry.db"]


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.db")
    (tmp_path / "reg").mkdir()
    os.mkfifo(tmp_path / "reg" / "registry.db")
    script = (
        "import artreg, sys\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        artreg.open(path)\n"
        "    except artreg.SchemaError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pipe.db"), str(tmp_path / "reg")],
                          env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    refusal = "a FIFO, not a registry database (which is a regular file)"
    assert [line.split("' is ")[1] for line in done.stdout.splitlines()] == [refusal, refusal]
    assert listing(tmp_path) == ["pipe.db", "reg", "reg/registry.db"]


def test_a_broken_symlink_and_a_folder_in_place_of_the_database_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "registry.db").symlink_to(tmp_path / "nowhere.db")
    with pytest.raises(artreg.SchemaError, match="nowhere.db.*does not exist"):
        artreg.open(tmp_path / "a")
    assert not (tmp_path / "nowhere.db").exists()
    (tmp_path / "b" / "registry.db").mkdir(parents=True)
    with pytest.raises(artreg.SchemaError, match="is a folder"):
        artreg.open(tmp_path / "b")


def test_an_empty_file_is_a_registry_only_when_creating(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(artreg.SchemaError, match="empty file"):
        artreg.open(empty, create=False)
    assert empty.stat().st_size == 0 and listing(tmp_path) == ["empty.db"]
    with artreg.open(empty) as reg:
        reg.log_artifact(make(a="x"), project="p")
    with artreg.open(empty, create=False) as reg:
        assert reg.artifact("p/ds").index == 0


def test_a_file_in_the_way_of_a_new_registry(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "file" / "reg", tmp_path / "file" / "team.db"):
        with pytest.raises(artreg.ArtregError, match="file") as refused:
            artreg.open(path)
        assert isinstance(refused.value, (artreg.DiskError, artreg.SchemaError)), refused.value
    assert listing(tmp_path) == ["file"]


def test_bad_path_values() -> None:
    for bad in ("", "a\x00b"):
        with pytest.raises(artreg.InvalidName):
            artreg.open(bad)


# -- a relative path is resolved once, at open ------------------------------------------------


def test_a_relative_path_names_the_same_registry_after_chdir_from_any_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with artreg.open("rel/reg") as reg:
        assert reg.path == str(tmp_path / "work" / "rel" / "reg" / "registry.db")
        reg.log_artifact(make(a="0"), project="p")
        monkeypatch.chdir(tmp_path / "elsewhere")
        # A new thread opens its own connection: it must be to the same file.
        assert in_thread(lambda: reg.artifact("p/ds").index) == 0
        assert in_thread(lambda: reg.log_artifact(make(a="1"), project="p").index) == 1
        assert reg.artifact("p/ds").index == 1
    assert listing(tmp_path / "elsewhere") == []
    with artreg.open(tmp_path / "work" / "rel" / "reg", create=False) as again:
        assert [v.index for v in again.artifacts("p", "ds")] == [1, 0]


def test_a_relative_file_path_after_chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with artreg.open("team.db") as reg:
        reg.log_artifact(make(a="0"), project="p")
        os.mkdir("sub")
        monkeypatch.chdir("sub")
        assert in_thread(lambda: reg.artifact("p/ds").index) == 0
    assert listing(tmp_path / "sub") == []


def test_symlinks_from_a_relatively_opened_registry_do_not_dangle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    with artreg.open("reg", inline_limit=0) as reg:
        v = reg.log_artifact(make(**{"a.txt": "alpha", "sub__b.txt": "bravo"}), project="p")
        root = v.download(str(tmp_path / "out"), link="symlink")
    monkeypatch.chdir(tmp_path / "elsewhere")
    for logical, content in (("a.txt", "alpha"), ("sub/b.txt", "bravo")):
        placed = Path(root) / logical
        assert placed.is_symlink() and os.path.isabs(os.readlink(placed))
        assert placed.read_text() == content
