"""SPEC §23 (issue 13, items 3 and 14): a download writes only under its root, and cleans up after killed ones.

Folders under the root are opened by descriptor with O_NOFOLLOW, so a folder swapped for a
symlink while the download runs (the test swaps it from the download's own progress
callback, between two files, deterministically) redirects nothing. ``checkout`` replaces a
symlinked folder instead of writing through it and then pruning what it wrote. A download
killed with SIGKILL leaves its temporary file; the next download into that folder removes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import artreg
from conftest import Hostile, child_env, make

BIG = os.urandom(3000)
EXPECTED = {"a": b"alpha", "d/b": b"bravo", "d/c": BIG, "d/e/f": b"foxtrot"}


@pytest.fixture
def v(reg: artreg.Registry) -> artreg.ArtifactVersion:
    return reg.log_artifact(make(a=b"alpha", d__b=b"bravo", d__c=BIG, d__e__f=b"foxtrot"), project="p")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
@pytest.mark.parametrize("swapped_after", [1, 2], ids=["before-the-folder-is-used", "after-its-first-file"])
def test_a_folder_swapped_for_a_symlink_during_a_download_redirects_nothing(
    v: artreg.ArtifactVersion, tmp_path: Path, link: str, swapped_after: int
) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()

    def swap(progress: artreg.Progress) -> None:
        if progress.files_done == swapped_after:  # after "a", or after "d/b"
            os.rename(root / "d", root / "moved")
            os.symlink(outside, root / "d")

    try:
        v.download(root, link=link, progress=swap)
    except artreg.InvalidName as exc:
        assert swapped_after == 1 and "symlink" in str(exc)  # refused: d is a symlink now
    else:
        assert swapped_after == 2  # the folder opened before the swap is the one written to
        assert tree(root / "moved") == {"b": b"bravo", "c": BIG, "e/f": b"foxtrot"}
    assert list(outside.iterdir()) == []


def test_a_download_refuses_a_symlinked_folder_inside_the_root_before_writing(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "d").symlink_to("real")
    with pytest.raises(artreg.InvalidName, match="symlink"):
        v.download(root)
    assert list((root / "real").iterdir()) == [] and not (root / "a").exists()


def test_checkout_replaces_a_symlinked_folder_and_keeps_what_it_wrote(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    """It used to write d/* through the symlink into real/, then prune real/ as not in the
    manifest: success reported, the files gone, and verify() failing."""
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "old.txt").write_text("not in the manifest")
    (root / "d").symlink_to("real")
    v.checkout(root)
    assert not (root / "d").is_symlink()
    assert tree(root) == EXPECTED
    v.verify(root)


def test_checkout_removes_a_symlink_it_does_not_need_and_never_what_it_points_at(v: artreg.ArtifactVersion, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "keep.txt").write_text("mine")
    (root / "elsewhere").symlink_to(outside)
    v.checkout(root)
    assert tree(root) == EXPECTED and not (root / "elsewhere").exists()
    assert (outside / "deep" / "keep.txt").read_text() == "mine"


# -- temporary files of killed downloads ---------------------------------------------------

CHILD = """
import sys
import artreg
reg = artreg.open(sys.argv[1])
reg.artifact("p/web").download(sys.argv[2])
"""


def temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".artreg-*"))


def test_the_temporary_file_of_a_killed_download_is_removed_by_the_next_one(tmp_path: Path, hostile: Hostile) -> None:
    """A child downloads a reference whose source drips (so it sits writing its temporary
    file), and is killed with SIGKILL; the next download into the same folder removes the
    file, but not one that a live process is still writing."""
    registry = tmp_path / "reg"
    root = tmp_path / "root"
    with artreg.open(registry) as reg:
        art = artreg.Artifact("web", type="dataset")
        art.add_reference(hostile.url("/drip"), name="data/web.bin")
        reg.log_artifact(art, project="p")
        reg.log_artifact(make("local", data__x=b"x"), project="p")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(registry), str(root)], env=child_env())
    try:
        deadline = time.monotonic() + 60
        while not temporaries(root) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        left = temporaries(root)
        assert left, "the child never started writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert temporaries(root) == left  # the kill left it behind

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        in_flight = root / "data" / f".artreg-{sleeper.pid}-{'0' * 16}.tmp"
        in_flight.write_bytes(b"a live process is writing this")
        with artreg.open(registry) as reg:
            reg.artifact("p/local").download(root)
        assert temporaries(root) == [in_flight.name]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (root / "data" / "x").read_bytes() == b"x"
