"""SPEC §13: bad input gets a specific ArtregError subclass and changes nothing.

The catalogue (``CASES``) runs each hostile input against a populated registry and compares
a snapshot (every row of every table, the audit head, the blob files) before and after.
The tests below it damage what the registry stands on: blob files, the database file
(truncated, damaged, newer, foreign), a read-only folder and a full disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import apsw
import pytest

import artreg
from artreg.storage._schema import SCHEMA_VERSION
from conftest import child_env, make
from invariants import snapshot

PROCS = str(Path(__file__).resolve().with_name("procs.py"))
BIG = random.Random(1).randbytes(5000)
NOBODY = 65534


@dataclass
class World:
    reg: artreg.Registry
    tmp: Path
    old: artreg.ArtifactVersion  # p/ds:v0, holding "best"
    data: artreg.ArtifactVersion  # p/ds:v1 (latest): an inline blob and a blob file
    model: artreg.ArtifactVersion  # p/zoo:v0, linked into the model registry as "production"

    def file(self, name: str, content: bytes = b"x") -> Path:
        path = self.tmp / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def folder(self, count: int) -> Path:
        """A folder of ``count`` small files."""
        for i in range(count):
            self.file(f"many/{i}")
        return self.tmp / "files" / "many"

    def not_utf8(self) -> Path:
        """A folder holding a file whose name is not UTF-8 (byte 0xff)."""
        root = self.tmp / "latin1"
        root.mkdir(exist_ok=True)
        with open(os.path.join(os.fsencode(root), b"caf\xe9-\xff.txt"), "wb") as f:
            f.write(b"x")
        return root

    def tree(self, **links: str) -> Path:
        """A folder with one file and the given symlinks (name -> target)."""
        root = self.tmp / "tree"
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "a.txt").write_text("a")
        for name, target in links.items():
            (root / name).symlink_to(target)
        return root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
        old = reg.log_artifact(make(small=b"s0", big=BIG), project="p", aliases=["best"])
        data = reg.log_artifact(make(small=b"s1", big=BIG), project="p")
        model = reg.log_artifact(make("zoo", "model", w=b"weights"), project="p")
        model.link("wandb-registry-model/Zoo", aliases=["production"])
        old.refresh()  # it held latest when it was logged
        yield World(reg, tmp_path, old, data, model)


def set_metadata(v: artreg.ArtifactVersion, **values: Any) -> None:
    v.metadata.update(values)
    v.save()


def add_alias(v: artreg.ArtifactVersion, alias: str) -> None:
    v.aliases.append(alias)
    v.save()


def draft_with(add: Callable[[artreg.Artifact], object]) -> artreg.Artifact:
    art = artreg.Artifact("ds", type="dataset")
    add(art)
    return art


def log(w: World, add: Callable[[artreg.Artifact], object]) -> None:
    w.reg.log_artifact(draft_with(add), project="p")


def write_in(art: artreg.Artifact, name: str) -> None:
    with art.new_file(name) as f:
        f.write("x")


def set_ttl(v: artreg.ArtifactVersion, ttl: Any) -> None:
    v.ttl = ttl
    v.save()


Case = Callable[[World], object]

CASES: list[Any] = [
    # names (SPEC §3)
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("has space", "dataset"), project="p"), artreg.InvalidName,
                 id="artifact name with a space"),
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("a" * 129, "dataset"), project="p"), artreg.InvalidName,
                 id="artifact name of 129 characters"),
    pytest.param(lambda w: w.reg.log_artifact(make(), project="a/b"), artreg.InvalidName, id="project name with a slash"),
    pytest.param(lambda w: w.reg.log_artifact(make(), project="p" * 129), artreg.InvalidName, id="project name of 129 characters"),
    pytest.param(lambda w: w.reg.log_artifact(make(), project="wandb-registry-model"), artreg.InvalidName,
                 id="logging straight into a registry"),
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("x", "wandb-history"), project="p"), artreg.InvalidName,
                 id="reserved type"),
    pytest.param(lambda w: w.reg.log_artifact(make(), project="p", tags=["two  spaces"]), artreg.InvalidName, id="bad tag"),
    pytest.param(lambda w: w.reg.log_artifact(make(), project="p", aliases="best"), artreg.InvalidName,
                 id="aliases as a bare string"),
    pytest.param(lambda w: w.reg.artifact("a/b/c/d"), artreg.InvalidName, id="reference with four parts"),
    pytest.param(lambda w: w.reg.artifact("p/ds:" + "x" * 129), artreg.InvalidName, id="reference with an over-long alias"),
    pytest.param(lambda w: w.reg.artifact("p/ds\x00:best"), artreg.InvalidName, id="reference with NUL"),
    pytest.param(lambda w: w.reg.artifact("p/ds:v99"), artreg.NotFound, id="reference to a missing version"),
    pytest.param(lambda w: w.reg.collection("ds"), artreg.InvalidName, id="collection without a project"),
    pytest.param(lambda w: artreg.open(w.tmp / "reg", inline_limit=-1), artreg.InvalidName, id="negative inline limit"),
    pytest.param(lambda w: artreg.open(w.tmp / "reg", user="bad\nuser"), artreg.InvalidName, id="user with a newline"),
    # reserved aliases (SPEC §3, §6); `latest` given to a log or a link is accepted (§15.2, tests/test_wandb_core.py)
    pytest.param(lambda w: w.reg.log_artifact(make(o=b"o"), project="p", aliases=["v7"]), artreg.InvalidName,
                 id="logging with alias v7"),
    pytest.param(lambda w: add_alias(w.old, "latest"), artreg.InvalidName, id="saving alias latest on an old version"),
    pytest.param(lambda w: add_alias(w.data, "v0"), artreg.InvalidName, id="saving another version's vN"),
    pytest.param(lambda w: add_alias(w.data, "a/b"), artreg.InvalidName, id="saving an alias with a slash"),
    pytest.param(lambda w: add_alias(w.data, "tab\there"), artreg.InvalidName, id="saving an alias with a control character"),
    # manifest paths (SPEC §3)
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="../x")), artreg.InvalidName, id="path .."),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="a/../../b")), artreg.InvalidName, id="path a/../../b"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="/etc/passwd")), artreg.InvalidName, id="absolute path"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="a\x00b")), artreg.InvalidName, id="path with NUL"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="a\\b")), artreg.InvalidName, id="path with backslash"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.file("f"), name="./")), artreg.InvalidName, id="path empty once normalised"),
    pytest.param(lambda w: log(w, lambda a: write_in(a, "..")), artreg.InvalidName, id="new_file named .."),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(), name="../up")), artreg.InvalidName, id="add_dir under .."),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(out="/etc"))), artreg.InvalidName, id="symlink to a folder outside"),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(out=str(w.file("secret"))))), artreg.InvalidName,
                 id="symlink to a file outside"),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(out="sub/../../files"))), artreg.InvalidName,
                 id="relative symlink climbing out"),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(loop="."))), artreg.InvalidName, id="symlink cycle"),
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.tree(gone="nowhere"))), artreg.NotFound, id="dangling symlink"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.tmp)), artreg.InvalidName, id="add_file of a folder"),
    pytest.param(lambda w: log(w, lambda a: a.add_file(w.tmp / "missing")), artreg.NotFound, id="add_file of nothing"),
    pytest.param(lambda w: w.data.download(str(w.tmp / "out"), path_prefix="../x"), artreg.InvalidName,
                 id="download prefix .."),
    # metadata (SPEC §3)
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("x", "dataset", metadata={"loss": float("nan")}), project="p"),
                 artreg.InvalidName, id="metadata NaN"),
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("x", "dataset", metadata={"a": [{"b": float("inf")}]}),
                                              project="p"), artreg.InvalidName, id="metadata nested Infinity"),
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("x", "dataset", metadata={f"k{i}": i for i in range(101)}),
                                              project="p"), artreg.InvalidName, id="metadata with 101 keys"),
    pytest.param(lambda w: artreg.Artifact("x", "dataset", metadata={1: "one"}), artreg.InvalidName, id="metadata int key"),
    pytest.param(lambda w: artreg.Artifact("x", "dataset", metadata={"s": {1, 2}}), artreg.InvalidName, id="metadata set"),
    pytest.param(lambda w: set_metadata(w.data, loss=float("nan")), artreg.InvalidName, id="saving metadata NaN"),
    pytest.param(lambda w: set_metadata(w.data, **{f"k{i}": i for i in range(101)}), artreg.InvalidName,
                 id="saving metadata with 101 keys"),
    pytest.param(lambda w: artreg.Artifact("x", "dataset", description="\udc80"), artreg.InvalidName,
                 id="description with a lone surrogate"),
    pytest.param(lambda w: set_ttl(w.data, timedelta(0)), artreg.InvalidName, id="zero ttl"),
    # references (SPEC §10)
    pytest.param(lambda w: log(w, lambda a: a.add_reference("ftp://host/x")), artreg.InvalidName, id="reference scheme ftp"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("file://host/x")), artreg.InvalidName, id="file reference with host"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference(f"file://{w.tmp}/missing")), artreg.NotFound,
                 id="file reference to nothing"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference(f"file://{w.tree()}", max_objects=0)), artreg.InvalidName,
                 id="max_objects 0"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference(f"file://{w.folder(3)}", max_objects=2)), artreg.InvalidName,
                 id="reference over max_objects"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("s3:///key")), artreg.InvalidName, id="s3 reference without bucket"),
    # types, links and guards
    pytest.param(lambda w: w.reg.log_artifact(make("ds", "model", m=b"m"), project="p"), artreg.TypeMismatch,
                 id="another type into a collection"),
    pytest.param(lambda w: w.data.link("wandb-registry-model/Zoo"), artreg.TypeMismatch, id="dataset into the model registry"),
    pytest.param(lambda w: w.model.link("p/zoo2"), artreg.InvalidName, id="link into a project"),
    pytest.param(lambda w: w.model.link("wandb-registry-nope/x"), artreg.NotFound, id="link into a missing registry"),
    pytest.param(lambda w: w.old.delete(), artreg.Conflict, id="deleting a version that holds an alias"),
    # SPEC §23: what raised a raw Python exception (UnicodeEncodeError, RecursionError, OverflowError, ValueError)
    pytest.param(lambda w: log(w, lambda a: a.add_dir(w.not_utf8())), artreg.InvalidName, id="add_dir of a file name not UTF-8"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference(f"file://{w.not_utf8()}")), artreg.InvalidName,
                 id="file reference to a file name not UTF-8"),
    pytest.param(lambda w: w.reg.log_artifact(artreg.Artifact("x", "dataset", metadata=nested(5000)), project="p"),
                 artreg.InvalidName, id="metadata nested 5,000 deep"),
    pytest.param(lambda w: set_metadata(w.data, deep=[nested(200)]), artreg.InvalidName, id="saving metadata nested 200 deep"),
    pytest.param(lambda w: w.reg.versions(nested(5000, "$and")), artreg.InvalidName, id="filter nested 5,000 deep"),
    pytest.param(lambda w: w.reg.versions({"metadata.a": nested(5000)}), artreg.InvalidName, id="filter value nested 5,000 deep"),
    pytest.param(lambda w: w.reg.artifact("p/ds:v99999999999999999999"), artreg.NotFound, id="index past 64 bits"),
    pytest.param(lambda w: w.reg.artifact("wandb-registry-model/Zoo:v9223372036854775808"), artreg.NotFound,
                 id="link index past 64 bits"),
    pytest.param(lambda w: set_ttl(w.data, timedelta.max), artreg.InvalidName, id="ttl past year 9999"),
    pytest.param(lambda w: w.reg.set_default_ttl("p", timedelta.max), artreg.InvalidName, id="default ttl past year 9999"),
    pytest.param(lambda w: w.reg.audit.entries(limit=-1), artreg.InvalidName, id="negative audit limit"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("file:///x%00")), artreg.InvalidName, id="file reference with %00"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("http://[::1")), artreg.InvalidName, id="http reference [::1"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("http://h:port/x")), artreg.InvalidName, id="http reference bad port"),
    pytest.param(lambda w: log(w, lambda a: a.add_reference("https://h:99999/x")), artreg.InvalidName,
                 id="http reference port out of range"),
    pytest.param(lambda w: w.reg.log_artifact("http://[::1", name="x", type="t"), artreg.InvalidName, id="logging a URI [::1"),
]


def nested(depth: int, key: str = "a") -> dict[str, Any]:
    """A dict nested ``depth`` levels deep (``{"$and": [...]}`` all the way down for filters)."""
    inner: dict[str, Any] = {"name": "x"} if key == "$and" else {}
    for _ in range(depth):
        inner = {key: [inner]} if key == "$and" else {key: inner}
    return inner


@pytest.mark.parametrize(("action", "expected"), CASES)
def test_bad_input_is_refused_with_a_specific_error_and_changes_nothing(
    world: World, action: Case, expected: type[artreg.ArtregError]
) -> None:
    before = snapshot(world.reg)
    with pytest.raises(artreg.ArtregError) as caught:
        action(world)
    assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"
    assert str(caught.value)
    assert snapshot(world.reg) == before
    assert not (world.tmp / "out").exists()  # a refused download writes nothing, not even its root


# -- damaged blobs ---------------------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    path.chmod(0o644)
    if how == "flipped":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-1])
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["flipped", "truncated", "missing"])
def test_a_damaged_blob_file_is_detected_and_never_served(world: World, how: str) -> None:
    entry = world.data.get_entry("big")
    damage(world.reg._store.object_path(entry.digest), how)
    before = snapshot(world.reg)
    with pytest.raises(artreg.IntegrityError) as caught:
        world.data.verify()
    assert (caught.value.missing if how == "missing" else caught.value.mismatched) == ["big"]
    report = world.reg.check()
    assert (report.missing if how == "missing" else report.corrupt) == [entry.digest] and not report.ok
    with pytest.raises(artreg.IntegrityError), world.data.open("big") as reader:
        reader.read()
    root = world.tmp / "out"
    with pytest.raises(artreg.IntegrityError):
        world.data.download(str(root), link="copy")
    assert not (root / "big").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".artreg-")] == []  # no temporary file left
    assert snapshot(world.reg) == before


def test_a_corrupted_inline_blob_is_detected_and_never_served(world: World) -> None:
    digest = world.data.get_entry("small").digest
    with world.reg._db.write() as con:
        con.execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"S1", digest))
    before = snapshot(world.reg)
    with pytest.raises(artreg.IntegrityError) as caught:
        world.data.verify()
    assert caught.value.mismatched == ["small"]
    assert world.reg.check().corrupt == [digest]
    with pytest.raises(artreg.IntegrityError), world.data.open("small") as reader:
        reader.read()
    with pytest.raises(artreg.IntegrityError):
        world.data.download(str(world.tmp / "out"))
    assert not (world.tmp / "out" / "small").exists()
    assert snapshot(world.reg) == before


def test_a_tampered_manifest_path_is_refused_before_anything_is_written(world: World) -> None:
    with world.reg._db.write() as con:
        con.execute("UPDATE chunk_entries SET path = '../escape' WHERE path = 'small' "
                    "AND chunk_id IN (SELECT chunk_id FROM manifests WHERE version_id = ?)", (world.data.id,))
    with pytest.raises(artreg.InvalidName, match="escape"):
        world.data.download(str(world.tmp / "out" / "root"))
    assert not (world.tmp / "out").exists() and not (world.tmp / "escape").exists()


# -- the database file -----------------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def populated(path: Path) -> Path:
    """A closed folder registry of a few hundred pages; returns its database file."""
    rng = random.Random(2)
    with artreg.open(path, inline_limit=1024) as reg:
        for i in range(20):
            files = {f"f{j}": rng.randbytes(rng.choice([50, 700, 3000])) for j in range(i % 5 + 1)}
            art = make(**files)
            art.metadata = {"i": i, "notes": "n" * 500}
            reg.log_artifact(art, project="p", aliases=["best"] if i % 3 else [])
    db = path / "registry.db"
    assert not db.with_name("registry.db-wal").exists()  # a clean close checkpoints and removes the WAL
    return db


def operations(reg: artreg.Registry) -> list[tuple[str, Callable[[], object]]]:
    """Reading and writing through most of the API, one named call at a time."""
    return [
        ("list", lambda: [list(v.files()) for v in reg.artifacts("p", "ds")]),
        ("read", lambda: reg.artifact("p/ds:best")),
        ("verify", lambda: [v.verify() for v in reg.artifacts("p", "ds")]),
        ("collections", lambda: reg.collections()),
        ("check", lambda: reg.check()),
        ("audit", lambda: reg.audit.verify()),
        ("log", lambda: reg.log_artifact(make("other", o=b"o"), project="q")),
        ("gc", lambda: reg.gc()),
    ]


def use_everything(reg: artreg.Registry) -> None:
    for _, call in operations(reg):
        call()


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.1])
def test_a_truncated_database_raises_schema_error_and_is_not_touched(tmp_path: Path, fraction: float) -> None:
    db = populated(tmp_path / "reg")
    os.truncate(db, int(db.stat().st_size * fraction))
    before = file_digest(db)
    with pytest.raises(artreg.SchemaError, match="damaged"), artreg.open(tmp_path / "reg", inline_limit=1024) as reg:
        use_everything(reg)
    assert file_digest(db) == before


@pytest.mark.slow
def test_a_damaged_page_gives_schema_error_or_a_correct_answer_never_anything_else(tmp_path: Path) -> None:
    """Each page in turn zeroed (and a few overwritten with noise): every call works or raises SchemaError
    (IntegrityError where it checks digests or the audit chain), never an apsw or other error."""
    db = populated(tmp_path / "pristine")
    pages = db.stat().st_size // 4096
    rng = random.Random(3)
    raised: set[str] = set()
    for page in range(pages):
        copy = tmp_path / f"damaged{page}"
        shutil.copytree(tmp_path / "pristine", copy)
        with open(copy / "registry.db", "r+b") as f:
            f.seek(page * 4096)
            f.write(bytes(4096) if page % 4 else rng.randbytes(4096))
        try:
            reg = artreg.open(copy, inline_limit=1024)
        except artreg.SchemaError:
            raised.add("open")
            continue
        with reg:
            for name, call in operations(reg):
                try:
                    call()
                except (artreg.SchemaError, artreg.IntegrityError, artreg.NotFound) as exc:
                    if isinstance(exc, artreg.SchemaError) or name in ("verify", "audit", "read"):
                        raised.add(name)
                        continue
                    raise AssertionError(f"page {page}, {name}: {type(exc).__name__}: {exc}") from exc
                except Exception as exc:
                    raise AssertionError(f"page {page}, {name}: {type(exc).__module__}.{type(exc).__name__}: {exc}") from exc
        shutil.rmtree(copy)
    assert {"open", "list", "check"} <= raised, f"the damage reached only {sorted(raised)}"


def foreign(db: Path, kind: str) -> None:
    """Turn a closed registry's database into one artreg must refuse."""
    if kind == "not SQLite":
        db.write_bytes(b"this is not a database, only text long enough to look like one " * 100)
        return
    con = apsw.Connection(str(db))
    if kind == "newer":
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    else:  # another application's SQLite file, in place of the registry's
        con.execute("PRAGMA application_id = 0")
        con.execute("CREATE TABLE people(name TEXT)")
    con.close()


@pytest.mark.parametrize(("kind", "match"), [("newer", "newer"), ("another application's", "not an artreg"),
                                             ("not SQLite", "not an SQLite")])
def test_a_database_artreg_did_not_write_is_refused_untouched(tmp_path: Path, kind: str, match: str) -> None:
    db = populated(tmp_path / "reg")
    foreign(db, kind)
    before = file_digest(db)
    objects = sorted((tmp_path / "reg" / "objects").rglob("*"))
    with pytest.raises(artreg.SchemaError, match=match):
        artreg.open(tmp_path / "reg")
    assert file_digest(db) == before
    assert sorted((tmp_path / "reg" / "objects").rglob("*")) == objects


@pytest.mark.parametrize("drop", ["TABLE aliases", "TABLE chunk_entries", "VIEW entries", "INDEX aliases_by_version",
                                  "TRIGGER search_alias_insert"])
def test_an_artreg_database_missing_a_table_index_or_trigger_raises_schema_error(tmp_path: Path, drop: str) -> None:
    """SPEC §23: a dropped table surfaced as a plain ArtregError ("no such table") at first
    use; a dropped trigger not at all. Refused at open, naming what is missing, untouched."""
    db = populated(tmp_path / "reg")
    con = apsw.Connection(str(db))
    con.execute(f"DROP {drop}")
    con.close()
    before = file_digest(db)
    with pytest.raises(artreg.SchemaError, match=f"damaged artreg registry: it lacks .*{drop.split()[1]}"):
        artreg.open(tmp_path / "reg")
    assert file_digest(db) == before


def test_a_table_dropped_while_open_is_schema_error(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "reg") as reg:
        reg.log_artifact(make(a=b"a"), project="p")
        con = apsw.Connection(str(tmp_path / "reg" / "registry.db"))
        con.execute("DROP TABLE version_tags")
        con.close()
        with pytest.raises(artreg.SchemaError, match="no such table: version_tags"):
            reg.artifact("p/ds")


def test_numbers_past_64_bits_mean_what_they_say(world: World) -> None:
    """SQLite's integers are 64-bit: larger limits, depths and operands raised OverflowError."""
    huge = 10**30
    reg = world.reg
    assert reg.versions({"size": {"$gt": huge}}) == []
    assert reg.versions({"size": {"$lt": huge}}, project="p") == reg.versions(project="p")
    assert reg.versions(limit=huge) == reg.versions()
    assert [h.ref for h in reg.search("best", limit=huge)] == [h.ref for h in reg.search("best")]
    assert reg.audit.entries(limit=huge) == reg.audit.entries()
    assert world.old.lineage(depth=huge).to_json() == world.old.lineage().to_json()
    reg.set_retention("p", keep=huge)
    world.data.metadata["count"] = huge
    world.data.save()
    assert reg.versions({"metadata.count": huge}) == [world.data]


# -- the filesystem --------------------------------------------------------------------------


def chmod_tree(top: Path, *, dirs: int, files: int) -> None:
    for folder, _, names in os.walk(top):
        os.chmod(folder, dirs)
        for name in names:
            os.chmod(os.path.join(folder, name), files)


@pytest.mark.parametrize("read_only", ["registry", "objects"])
def test_a_read_only_registry_raises_and_stays_unchanged(read_only: str) -> None:
    """chmod does not stop root, so as root the child drops to an unprivileged user before it
    opens the registry; the folder lives in the system temp folder, where that user can reach it."""
    as_root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="artreg-ro-") as top:
        os.chmod(top, 0o755)
        path = Path(top) / "reg"
        with artreg.open(path, inline_limit=1024) as reg:
            reg.log_artifact(make(big=BIG, small=b"s"), project="p")
            before = snapshot(reg)
        if as_root:
            for folder, _, names in os.walk(path):
                for name in [folder, *(os.path.join(folder, n) for n in names)]:
                    os.chown(name, NOBODY, NOBODY)
        chmod_tree(path / "objects" if read_only == "objects" else path, dirs=0o555, files=0o444)
        try:
            done = subprocess.run(
                [sys.executable, PROCS, "read-only", str(path), *([str(NOBODY)] if as_root else [])],
                capture_output=True, text=True, timeout=60, env=child_env(), cwd=top,
            )
        finally:
            chmod_tree(path, dirs=0o755, files=0o644)
        if as_root and "Operation not permitted" in done.stderr:
            pytest.skip("running as root without the right to switch users, so chmod cannot make anything read-only")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert (result["writable"], result["objects_writable"]) == ((False, False) if read_only == "registry" else (True, False))
        assert result["error"] == "DiskError", result  # SPEC §14 has no class for the environment: artreg adds DiskError
        assert ("cannot write registry" if read_only == "registry" else "cannot write in") in result["message"]
        with artreg.open(path, inline_limit=1024) as reg:
            assert snapshot(reg) == before
            assert reg.check().ok


@pytest.mark.parametrize("kind", ["blob", "blob-tail", "wal", "download"])
def test_a_full_disk_raises_and_leaves_the_registry_consistent(tmp_path: Path, kind: str) -> None:
    """RLIMIT_FSIZE in a child stands in for a full disk: writes past 1.5 MB fail with EFBIG
    (after a short write, for one that crosses the limit)."""
    path = tmp_path / "reg"
    with artreg.open(path, inline_limit=64 * 1024) as reg:
        reg.log_artifact(make("big", big=random.Random(4).randbytes(3_000_000)), project="p")
        before = snapshot(reg)
    done = subprocess.run(
        [sys.executable, PROCS, "full-disk", str(path), "1500000", kind],
        capture_output=True, text=True, timeout=120, env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] == "DiskError", result  # SPEC §14 has no class for the environment: artreg adds DiskError
    assert "full" in result["message"], result
    with artreg.open(path, inline_limit=64 * 1024) as reg:
        assert snapshot(reg) == before
        assert reg.check().ok
        reg.artifact("p/big").verify()
    download = tmp_path / "reg.download"
    assert not download.exists() or [p.name for p in download.iterdir()] == []  # no partial file, no temporary
