"""SPEC §4: building a draft: add_file, add_dir, new_file, remove, same-path rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import artreg
from artreg._draft import SPOOL_BYTES
from conftest import child_env, make, readline

# Writes a small and a large new_file into a draft, then waits to be killed.
WRITER = f"""
import sys, time
import artreg
art = artreg.Artifact("d", type="dataset")
with art.new_file("small.txt") as f:
    f.write("small")
with art.new_file("large.bin", mode="wb") as f:
    f.write(bytes({SPOOL_BYTES} + 1))
print("ready", flush=True)
time.sleep(60)
"""


def paths(art: artreg.Artifact) -> list[str]:
    return sorted(art.entries)


def test_add_file_defaults_to_the_file_name_and_returns_the_entry(src: Path) -> None:
    art = artreg.Artifact("ds", type="dataset")
    entry = art.add_file(src / "a.txt")
    assert (entry.path, entry.size) == ("a.txt", 5)
    assert entry.digest == "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"
    assert art.add_file(src / "sub" / "b.txt", name="x/./y//b.txt").path == "x/y/b.txt"


def test_add_file_refuses_missing_files_and_folders(src: Path) -> None:
    art = artreg.Artifact("ds", type="dataset")
    with pytest.raises(artreg.NotFound):
        art.add_file(src / "nope")
    with pytest.raises(artreg.InvalidName, match="regular file"):
        art.add_file(src / "sub")
    with pytest.raises(artreg.InvalidName, match=r"'\.\.'"):
        art.add_file(src / "a.txt", name="../escape")
    assert paths(art) == []


def test_add_dir_walks_the_tree_under_a_prefix(src: Path) -> None:
    art = artreg.Artifact("ds", type="dataset")
    art.add_dir(src)
    assert paths(art) == ["a.txt", "big.bin", "sub/b.txt"]
    other = artreg.Artifact("ds", type="dataset")
    other.add_dir(src, name="data")
    assert paths(other) == ["data/a.txt", "data/big.bin", "data/sub/b.txt"]


def test_add_dir_follows_symlinks_inside_the_tree(src: Path) -> None:
    (src / "link.txt").symlink_to(src / "a.txt")
    (src / "linkdir").symlink_to(src / "sub")
    art = artreg.Artifact("ds", type="dataset")
    art.add_dir(src)
    assert paths(art) == ["a.txt", "big.bin", "link.txt", "linkdir/b.txt", "sub/b.txt"]
    assert art.entries["link.txt"].digest == art.entries["a.txt"].digest


def test_add_dir_refuses_symlinks_leaving_the_tree_and_adds_nothing(src: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s")
    (src / "sub" / "z_out").symlink_to(tmp_path / "secret")
    art = artreg.Artifact("ds", type="dataset")
    with pytest.raises(artreg.InvalidName, match="points outside"):
        art.add_dir(src)
    assert paths(art) == []


def test_add_dir_refuses_dangling_links_cycles_and_missing_folders(src: Path) -> None:
    art = artreg.Artifact("ds", type="dataset")
    (src / "sub" / "loop").symlink_to(src)
    with pytest.raises(artreg.InvalidName, match="cycle"):
        art.add_dir(src)
    (src / "sub" / "loop").unlink()
    (src / "dangling").symlink_to(src / "nowhere")
    with pytest.raises(artreg.NotFound, match="dangles"):
        art.add_dir(src)
    with pytest.raises(artreg.NotFound):
        art.add_dir(src / "nowhere")
    assert paths(art) == []


def test_new_file_text_and_binary() -> None:
    art = artreg.Artifact("ds", type="dataset")
    with art.new_file("notes.txt") as f:
        f.write("héllo")
    with art.new_file("raw.bin", mode="wb") as f:
        f.write(b"\x00\x01")
    assert art.entries["notes.txt"].size == len("héllo".encode())
    assert art.entries["raw.bin"].size == 2
    with pytest.raises(artreg.InvalidName, match="mode"), art.new_file("x", mode="a"):
        pass


def test_new_file_adds_nothing_when_the_block_fails() -> None:
    art = artreg.Artifact("ds", type="dataset")
    with pytest.raises(RuntimeError), art.new_file("notes.txt") as f:
        f.write("partial")
        raise RuntimeError("boom")
    assert paths(art) == []


def test_same_path_same_content_is_a_no_op_other_content_needs_overwrite(src: Path) -> None:
    art = make(a="alpha")
    first = art.entries["a"]
    (src / "copy").write_text("alpha")
    assert art.add_file(src / "copy", name="a") is first
    with pytest.raises(artreg.AlreadyExists, match="overwrite=True"):
        art.add_file(src / "sub" / "b.txt", name="a")
    assert art.entries["a"] is first
    art.add_file(src / "sub" / "b.txt", name="a", overwrite=True)
    assert art.entries["a"].size == 5 and art.entries["a"].digest != first.digest


def test_a_path_cannot_be_both_file_and_folder(src: Path) -> None:
    art = make(a="x")
    with pytest.raises(artreg.AlreadyExists, match="inside 'a'"):
        art.add_file(src / "a.txt", name="a/b")
    art.add_file(src / "a.txt", name="d/e")
    with pytest.raises(artreg.AlreadyExists, match="folder"):
        art.add_file(src / "a.txt", name="d", overwrite=True)
    assert paths(art) == ["a", "d/e"]


def test_remove_a_path_or_a_folder(src: Path) -> None:
    art = artreg.Artifact("ds", type="dataset")
    art.add_dir(src)
    art.remove("sub")
    assert paths(art) == ["a.txt", "big.bin"]
    art.remove("./a.txt")
    assert paths(art) == ["big.bin"]
    with pytest.raises(artreg.NotFound):
        art.remove("sub")
    art.add_file(src / "a.txt", name="sub")  # the folder is gone, so the name is free
    assert paths(art) == ["big.bin", "sub"]


def test_draft_is_frozen_once_logged(reg: artreg.Registry, src: Path) -> None:
    art = make(a="x")
    v = reg.log_artifact(art, project="p")
    assert art.logged_version == v
    for attempt in (
        lambda: art.add_file(src / "a.txt"),
        lambda: art.add_dir(src),
        lambda: art.remove("a"),
    ):
        with pytest.raises(artreg.Conflict, match="frozen"):
            attempt()
    with pytest.raises(artreg.Conflict, match="frozen"), art.new_file("n"):
        pass


def test_draft_constructor_validates() -> None:
    with pytest.raises(artreg.InvalidName):
        artreg.Artifact("bad name", type="dataset")
    with pytest.raises(artreg.InvalidName):
        artreg.Artifact("ok", type="wandb-reserved")
    with pytest.raises(artreg.InvalidName):
        artreg.Artifact("ok", type="dataset", metadata={"x": float("nan")})
    with pytest.raises(artreg.InvalidName):
        artreg.Artifact("ok", type="dataset", tags=["bad  tag"])
    with pytest.raises(artreg.InvalidName):
        artreg.Artifact("ok", type="dataset", description=3)  # type: ignore[arg-type]


def test_new_draft_reuses_blobs_without_copying(reg: artreg.Registry, src: Path) -> None:
    art = artreg.Artifact("tree", type="dataset", description="d", metadata={"k": 1})
    art.add_dir(src)
    v0 = reg.log_artifact(art, project="p")
    draft = v0.new_draft()
    assert (draft.name, draft.type, draft.description, draft.metadata) == ("tree", "dataset", "d", {"k": 1})
    assert paths(draft) == ["a.txt", "big.bin", "sub/b.txt"]
    files_before = sorted(p for p in reg.objects.rglob("*") if p.is_file())  # type: ignore[union-attr]
    (src / "new.txt").write_text("new")
    draft.add_file(src / "new.txt", name="sub/b.txt", overwrite=True)
    v1 = reg.log_artifact(draft, project="p")
    assert v1.index == 1
    assert v1.open("sub/b.txt").read() == b"new"
    assert v1.get_entry("big.bin").digest == v0.get_entry("big.bin").digest
    assert sorted(p for p in reg.objects.rglob("*") if p.is_file()) == files_before  # type: ignore[union-attr]


def test_new_draft_can_be_logged_into_another_registry(reg: artreg.Registry, tmp_path: Path) -> None:
    big = os.urandom(3000)
    v = reg.log_artifact(make(big=big, small="s"), project="p")
    with artreg.open(tmp_path / "other") as other:
        copy = other.log_artifact(v.new_draft(), project="p")
        assert copy.digest == v.digest
        assert copy.open("big").read() == big


def test_new_file_leaves_nothing_in_the_temp_folder_of_a_killed_process(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE, text=True, env=child_env(TMPDIR=str(scratch)))
        try:
            assert readline(proc, time.monotonic() + 60) == "ready\n"
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == -signal.SIGKILL
    assert list(scratch.iterdir()) == []


def test_new_file_contents_small_and_spilled(reg: artreg.Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    art = artreg.Artifact("d", type="dataset")
    with art.new_file("small.txt") as f:
        f.write("héllo\n")
    with art.new_file("large.bin", mode="wb") as f:
        f.write(b"x" * SPOOL_BYTES)
        f.write(b"y")
        f.close()  # closing inside the block keeps what was written
    with pytest.raises(RuntimeError), art.new_file("failed.txt") as f:
        f.write("never added")
        raise RuntimeError
    assert sorted(art.entries) == ["large.bin", "small.txt"] and list(scratch.iterdir()) == []
    v = reg.log_artifact(art, project="p")
    assert v.open("small.txt").read() == "héllo\n".encode()
    assert v.open("large.bin").read() == b"x" * SPOOL_BYTES + b"y"


def test_spilled_new_file_and_new_draft_log_whole_into_a_memory_registry(reg: artreg.Registry) -> None:
    # A ":memory:" registry keeps every blob inline, however large: a stream of unknown
    # length must be read to its end there, not cut at the inline limit.
    big = os.urandom(SPOOL_BYTES + 4096)
    art = artreg.Artifact("d", type="dataset")
    with art.new_file("large.bin", mode="wb") as f:
        f.write(big)
    v = reg.log_artifact(make(big=big), project="p")
    with artreg.open(":memory:") as mem:
        assert mem.log_artifact(art, project="p").open("large.bin").read() == big
        assert mem.log_artifact(v.new_draft(), project="q").open("big").read() == big


@pytest.mark.parametrize("size", [5, SPOOL_BYTES + 1])
def test_new_file_handle_is_closed_when_the_block_ends(reg: artreg.Registry, size: int) -> None:
    art = artreg.Artifact("d", type="dataset")
    with art.new_file("data.bin", mode="wb") as f:
        f.write(b"x" * size)
    assert f.closed
    with pytest.raises(ValueError, match="closed"):
        f.write(b"late")
    assert reg.log_artifact(art, project="p").open("data.bin").read() == b"x" * size


# Adds a tree 200 folders deep with at most 64 descriptors open, then prints its entries.
DEEP_WALK = """
import os, resource, sys
import artreg
root = sys.argv[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
art = artreg.Artifact("deep", type="dataset")
art.add_dir(root)
print(sorted(art.entries))
"""


def test_add_dir_walks_a_deep_tree_with_few_descriptors(tmp_path: Path) -> None:
    # The walk must not hold a descriptor per level of the tree while it descends.
    deep = tmp_path / "tree" / Path(*["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    (tmp_path / "tree" / "top.txt").write_text("y")
    done = subprocess.run([sys.executable, "-c", DEEP_WALK, str(tmp_path / "tree")],
                          capture_output=True, text=True, env=child_env(), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{['/'.join(['d'] * 200) + '/f.txt', 'top.txt']}\n"


# Writes 100 spilled new_files into one draft with at most 64 descriptors open, logs it, checks the bytes.
MANY_SPILLED = f"""
import resource, sys
import artreg
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
art = artreg.Artifact("many", type="dataset")
for i in range(100):
    with art.new_file(f"f{{i}}.bin", mode="wb") as f:
        f.write(bytes([i]) * ({SPOOL_BYTES} + i + 1))
with artreg.open(sys.argv[1]) as reg:
    v = reg.log_artifact(art, project="p")
    assert all(v.open(f"f{{i}}.bin").read() == bytes([i]) * ({SPOOL_BYTES} + i + 1) for i in range(100))
print("ok")
"""


def test_many_spilled_new_files_do_not_hold_a_descriptor_each(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", MANY_SPILLED, str(tmp_path / "reg")],
                          capture_output=True, text=True, env=child_env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
