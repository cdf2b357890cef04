"""SPEC §8: gc frees exactly what no live version needs; check finds what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apsw
import pytest

import artreg
from conftest import child_env, make

BIG = [os.urandom(5000) for _ in range(3)]


def blob_files(reg: artreg.Registry) -> list[Path]:
    assert reg.objects is not None
    return sorted(p for p in reg.objects.rglob("*") if p.is_file() and p.parent.name != "tmp" and p.name != "lock")


def blob_rows(reg: artreg.Registry) -> int:
    return int(reg._db.connection().execute("SELECT count(*) FROM blobs").fetchone()[0])


def test_gc_frees_exactly_what_no_live_version_needs(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(shared=BIG[0], only0=BIG[1], small0=b"s0"), project="p", aliases=["keep"])
    reg.log_artifact(make(shared=BIG[0], only1=BIG[2], small1=b"s1"), project="p")
    assert len(blob_files(reg)) == 3 and blob_rows(reg) == 5
    assert reg.gc() == artreg.GcReport()

    v0.delete(delete_aliases=True)
    preview = reg.gc(dry_run=True)
    assert (preview.blobs, preview.bytes, preview.dry_run) == (2, 5000 + 2, True)
    assert len(blob_files(reg)) == 3 and blob_rows(reg) == 5  # a dry run changes nothing

    report = reg.gc()
    assert (report.blobs, report.bytes, report.orphan_files) == (2, 5002, 0)
    assert len(blob_files(reg)) == 2 and blob_rows(reg) == 3
    latest = reg.artifact("p/ds")
    latest.verify()
    assert reg.check().ok


def test_gc_removes_orphan_and_temporary_files(reg: artreg.Registry) -> None:
    reg.log_artifact(make(big=BIG[0]), project="p")
    assert reg.objects is not None
    orphan = reg.objects / "ab" / ("c" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left by a crash")
    leftover = reg.objects / "tmp" / "123-456.tmp"
    leftover.write_bytes(b"half a blob")
    report = reg.check()
    assert sorted(report.orphans) == sorted([str(orphan), str(leftover)]) and not report.ok
    assert reg.gc() == artreg.GcReport(orphan_files=2, orphan_bytes=len(b"left by a crash") + len(b"half a blob"))
    assert not orphan.exists() and not leftover.exists()
    assert reg.check().ok
    reg.artifact("p/ds").verify()


def test_memory_registry_gc(mem: artreg.Registry) -> None:
    v = mem.log_artifact(make(a=b"x" * 100), project="p")
    v.delete(delete_aliases=True)
    assert mem.gc().blobs == 1
    assert mem.check().ok


def test_check_reports_corrupt_and_missing_blobs_and_fix_keeps_them(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(big=BIG[0], other=BIG[1], small=b"s"), project="p")
    corrupt = reg._store.object_path(v.get_entry("big").digest)
    corrupt.chmod(0o644)
    corrupt.write_bytes(b"x" * 5000)
    missing = reg._store.object_path(v.get_entry("other").digest)
    missing.unlink()
    reg._db.connection().execute("UPDATE blobs SET data = ? WHERE digest = ?", (b"t", v.get_entry("small").digest))
    report = reg.check(fix=True)
    assert report.corrupt == sorted([v.get_entry("big").digest, v.get_entry("small").digest]) or set(report.corrupt) == {
        v.get_entry("big").digest, v.get_entry("small").digest}
    assert report.missing == [v.get_entry("other").digest]
    assert report.integrity == [] and not report.ok
    assert corrupt.exists()  # a version still names it: reported, never deleted


def test_check_reports_database_damage(tmp_path: Path) -> None:
    with artreg.open(tmp_path / "r") as reg:
        reg.log_artifact(make(a="x"), project="p", aliases=["best"])
        assert reg.check().ok
    # Point one index at another index's pages: the damage integrity_check exists to find.
    con = apsw.Connection(str(tmp_path / "r" / "registry.db"))
    con.execute("PRAGMA writable_schema = ON")
    other = con.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'run_inputs_by_version'").fetchone()[0]
    con.execute("UPDATE sqlite_schema SET rootpage = ? WHERE name = 'aliases_by_version'", (other,))
    con.close()
    with artreg.open(tmp_path / "r") as reg:
        report = reg.check()
    assert report.integrity and not report.ok
    assert any("aliases_by_version" in line for line in report.integrity)


LOGGER = textwrap.dedent("""
    import os, sys
    import artreg
    payloads = [bytes([i]) * 5000 for i in range(3)]
    with artreg.open(sys.argv[1], inline_limit=1024) as reg:
        for i in range(int(sys.argv[2])):
            art = artreg.Artifact("ds", type="dataset")
            with art.new_file("big", mode="wb") as f:
                f.write(payloads[i % 3])
            with art.new_file("small", mode="wb") as f:
                f.write(bytes([i % 3]) * 10)
            v = reg.log_artifact(art, project="p")
            for old in reg.artifacts("p", "ds")[1:]:
                old.delete(delete_aliases=True)
            v.verify()
    print("logged")
""")
GC = textwrap.dedent("""
    import os, sys, time
    import artreg
    runs = 0
    with artreg.open(sys.argv[1], inline_limit=1024) as reg:
        while not os.path.exists(sys.argv[2]):
            reg.gc()
            runs += 1
    print(runs)
""")


def test_gc_never_sweeps_a_blob_an_in_flight_log_is_about_to_use(tmp_path: Path) -> None:
    """A logger re-logs content whose blobs gc just found unreferenced, while gc runs in a loop."""
    registry = tmp_path / "shared"
    artreg.open(registry, inline_limit=1024).close()
    done = tmp_path / "done"
    gc = subprocess.Popen([sys.executable, "-c", GC, str(registry), str(done)], stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        logger = subprocess.run(
            [sys.executable, "-c", LOGGER, str(registry), "60"], capture_output=True, text=True, timeout=240, env=child_env()
        )
    finally:
        done.touch()
        gc_out, _ = gc.communicate(timeout=120)
    assert logger.returncode == 0, logger.stderr
    assert gc.returncode == 0 and int(gc_out) > 0
    with artreg.open(registry, inline_limit=1024) as reg:
        (live,) = reg.artifacts("p", "ds")
        assert live.index == 59
        live.verify()
        assert reg.check().ok


@pytest.mark.parametrize("dry_run", [True, False])
def test_gc_report_is_a_frozen_value(reg: artreg.Registry, dry_run: bool) -> None:
    report = reg.gc(dry_run=dry_run)
    with pytest.raises(AttributeError):
        report.blobs = 3  # type: ignore[misc]


# -- SPEC §23: stray folders, read-only folders --------------------------------------------


def test_a_stray_folder_in_objects_is_left_alone_by_gc_and_check(reg: artreg.Registry) -> None:
    """A folder inside objects/ab/ (or named like a blob) made gc and check(fix=True) raise
    IsADirectoryError, every time after; and files in folders artreg never makes were removed."""
    v = reg.log_artifact(make(big=BIG[0]), project="p")
    blob = reg._store.object_path(v.get_entry("big").digest)
    assert reg.objects is not None
    strays = [blob.parent / "a-folder", blob.parent / ("0" * 62), reg.objects / "notes" / "readme.txt", blob.parent / "notes.txt"]
    strays[0].mkdir()
    strays[1].mkdir()
    strays[2].parent.mkdir()
    strays[2].write_text("someone else's")
    strays[3].write_text("not a blob's name")
    orphan = reg._store.object_path("f" * 64)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left by a crash")

    assert reg.check().orphans == [str(orphan)]
    assert reg.gc().orphan_files == 1
    assert not orphan.exists()
    v.delete(delete_aliases=True)
    assert reg.gc().blobs == 1 and not blob.exists()
    report = reg.check(fix=True)
    assert report.ok and report.removed_orphans == []
    assert all(path.exists() for path in strays)


NOBODY = 65534



def test_gc_on_a_read_only_objects_folder_raises_and_changes_nothing(tmp_path: Path) -> None:
    """It committed the deletion of the blob rows, then raised a raw OSError unlinking their
    files (and every gc after found them as orphans it could not remove either). As root the
    child drops to an unprivileged user, since chmod does not stop root."""
    import json
    import tempfile

    procs = str(Path(__file__).resolve().with_name("procs.py"))
    as_root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="artreg-ro-gc-") as top:
        os.chmod(top, 0o755)
        path = Path(top) / "reg"
        with artreg.open(path, inline_limit=1024) as reg:
            v = reg.log_artifact(make(big=BIG[0], small=b"s"), project="p")
            blob = reg._store.object_path(v.get_entry("big").digest)
            v.delete(delete_aliases=True)
            rows = blob_rows(reg)
        if as_root:
            for folder, _, names in os.walk(path):
                for name in [folder, *(os.path.join(folder, n) for n in names)]:
                    os.chown(name, NOBODY, NOBODY)
        os.chmod(blob.parent, 0o555)
        try:
            done = subprocess.run(
                [sys.executable, procs, "gc", str(path), *([str(NOBODY)] if as_root else [])],
                capture_output=True, text=True, timeout=60, env=child_env(), cwd=top,
            )
        finally:
            os.chmod(blob.parent, 0o755)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["gc"]["error"] == "ArtregError", result  # the root class: SPEC §14 has none for the environment
        assert "cannot write in" in result["gc"]["message"] and str(blob.parent) in result["gc"]["message"]
        assert result["check"]["error"] is None, result  # nothing to remove: no orphan was made
        with artreg.open(path, inline_limit=1024) as reg:
            assert blob_rows(reg) == rows and blob.exists()  # the rows stayed with their file
            assert reg.check().ok
            assert reg.gc().blobs == 2 and not blob.exists()  # and go once the folder allows it
