"""SPEC §15.1: distributed versions, upserted by several processes and finished by another."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import artreg
import artreg.wandb as wandb
from conftest import child_env

UPSERT = """
import sys
import artreg.wandb as wandb
path, part, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wandb.use_registry(artreg.open(path, inline_limit=1024))
with wandb.init(project="p", group="writers", job_type="writer") as run:
    artifact = wandb.Artifact("parallel-artifact", type="dataset", metadata={f"part{part}": True})
    with artifact.new_file(f"parts/table_{part}.bin", mode="wb") as f:
        f.write(bytes([part]) * size)
    with artifact.new_file("shared/schema.txt") as f:
        f.write("a,b,c")  # every writer adds the same file: allowed
    run.upsert_artifact(artifact)
    assert artifact.state == "PENDING"
    print(run.id, flush=True)
"""
FINISH = """
import sys
import artreg.wandb as wandb
wandb.use_registry(artreg.open(sys.argv[1], inline_limit=1024))
with wandb.init(project="p", group="writers", job_type="finisher") as run:
    artifact = wandb.Artifact("parallel-artifact", type="dataset")
    run.finish_artifact(artifact, aliases=["complete"])
    print(run.id, artifact.version, flush=True)
"""


def child(code: str, *args: object) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", "import artreg\n" + textwrap.dedent(code), *map(str, args)]
    return subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_all(procs: list[subprocess.Popen[str]]) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_three_processes_upsert_and_a_fourth_finishes_one_version(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    sizes = {0: 100, 1: 5000, 2: 70_000}  # inline and file blobs
    writers = finish_all([child(UPSERT, path, part, size) for part, size in sizes.items()])
    with artreg.open(path, inline_limit=1024) as reg:
        assert reg.collections("p") == [] and reg.versions() == []  # nothing visible before the finish
        with pytest.raises(artreg.NotFound):
            reg.artifact("p/parallel-artifact")
        assert reg.gc().blobs == 0  # the pending blobs are kept
        assert reg.check().ok
    (finished,) = finish_all([child(FINISH, path)])
    finisher, version = finished.split()
    assert version == "v0"
    with artreg.open(path, inline_limit=1024) as reg:
        (v,) = reg.artifacts("p", "parallel-artifact")
        assert v.index == 0 and v.aliases == ["complete", "latest"]
        assert sorted(e.path for e in v.files()) == ["parts/table_0.bin", "parts/table_1.bin", "parts/table_2.bin", "shared/schema.txt"]
        for part, size in sizes.items():
            assert v.open(f"parts/table_{part}.bin").read() == bytes([part]) * size
        assert v.metadata == {"part0": True, "part1": True, "part2": True}
        assert sorted(r.id for r in v.logged_by()) == sorted([*writers, finisher])
        assert reg.gc().blobs == 0 and reg.check().ok
        v.verify()
        assert reg._db.connection().execute("SELECT count(*) FROM pending_entries").fetchone() == (0,)


def test_conflicting_content_at_one_path_fails_that_upsert(tmp_path: Path) -> None:
    reg = wandb.use_registry(artreg.open(tmp_path / "reg"))
    try:
        with wandb.init(project="p") as first:
            a = wandb.Artifact("ds", "dataset")
            with a.new_file("x.txt") as f:
                f.write("one")
            with a.new_file("only-first.txt") as f:
                f.write("1")
            first.upsert_artifact(a, distributed_id="job-7")
        with wandb.init(project="p") as second:
            b = wandb.Artifact("ds", "dataset")
            with b.new_file("x.txt") as f:
                f.write("two")
            with b.new_file("only-second.txt") as f:
                f.write("2")
            with pytest.raises(artreg.AlreadyExists, match="x.txt"):
                second.upsert_artifact(b, distributed_id="job-7")
            folder = wandb.Artifact("ds", "dataset")
            with folder.new_file("x.txt/inner") as f:
                f.write("under a file")
            with pytest.raises(artreg.AlreadyExists, match="inside"):
                second.upsert_artifact(folder, distributed_id="job-7")
            wrong = wandb.Artifact("ds", "model")
            with pytest.raises(artreg.TypeMismatch):
                second.upsert_artifact(wrong, distributed_id="job-7")
            with pytest.raises(artreg.InvalidName, match="group"):
                second.upsert_artifact(wandb.Artifact("ds", "dataset"))  # no group, no distributed_id
            done = second.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="job-7")
        assert sorted(e.path for e in done._core().files()) == ["only-first.txt", "x.txt"]  # the failed upsert changed nothing
        assert [r.id for r in done._core().logged_by()] == [first.id, second.id]
        with wandb.init(project="p") as third:  # the same id after a finish starts a new version
            c = wandb.Artifact("ds", "dataset")
            with c.new_file("x.txt") as f:
                f.write("three")
            third.upsert_artifact(c, distributed_id="job-7")
            again = third.finish_artifact(wandb.Artifact("ds", "dataset"), distributed_id="job-7")
        assert again.version == "v1" and again.aliases == ["latest"]
    finally:
        reg.close()
