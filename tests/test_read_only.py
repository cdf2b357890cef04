"""``artreg.open(path, read_only=True)``: reads everything, writes nothing, creates nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

import artreg
from conftest import make


def fingerprint(path: Path) -> str:
    return hashlib.sha256((path / "registry.db").read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with artreg.open(tmp_path / "reg", inline_limit=1) as reg:
        reg.log_artifact(make(a="alpha", b="bravo"), project="p", aliases=["best"])
        reg.create_registry("zoo")
    return tmp_path / "reg"


WRITES: dict[str, Callable[[artreg.Registry], object]] = {
    "log": lambda r: r.log_artifact(make(c="new"), project="p"),
    "alias": lambda r: (v := r.artifact("p/ds"), v.aliases.append("prod"), v.save()),
    "delete": lambda r: r.artifact("p/ds").delete(delete_aliases=True),
    "link": lambda r: r.artifact("p/ds").link("wandb-registry-zoo/Z"),
    "registry": lambda r: r.create_registry("more"),
    "run": lambda r: r.init("p"),
    "gc": lambda r: r.gc(),
    "expire": lambda r: r.expire(),
    "retention": lambda r: r.set_retention("p", 1),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_is_refused_and_changes_nothing(folder: Path, write: str) -> None:
    before = fingerprint(folder)
    with artreg.open(folder, read_only=True) as reg:
        head = reg.audit.head()
        with pytest.raises(artreg.PermissionDenied, match="read-only"):
            WRITES[write](reg)
        assert reg.audit.head() == head
    assert fingerprint(folder) == before


def test_reads_work_and_sqlite_itself_refuses_a_write(folder: Path) -> None:
    with artreg.open(folder, read_only=True) as reg:
        v = reg.artifact("p/ds:best")
        assert [e.path for e in v.files()] == ["a", "b"] and reg.read_only
        with v.open("a") as f:
            assert f.read() == b"alpha"
        assert reg.search("ds")[0].ref == "p/ds" and [c.name for c in reg.registries()] == ["dataset", "model", "zoo"]
        with pytest.raises(apsw.ReadOnlyError):  # below artreg: the connection is read-only
            reg._db.connection().execute("DELETE FROM aliases")


def test_nothing_is_created(tmp_path: Path) -> None:
    with pytest.raises(artreg.NotFound):
        artreg.open(tmp_path / "missing", read_only=True)
    with pytest.raises(artreg.NotFound):
        artreg.open(tmp_path / "missing.db", read_only=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(artreg.InvalidName):
        artreg.open(":memory:", read_only=True)
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(artreg.SchemaError):
        artreg.open(tmp_path / "empty.db", read_only=True)
