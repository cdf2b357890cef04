"""SPEC §15 and §15.2 in the core API: W&B's parameter names, runs that finish at exit, history and summary."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import artreg
from conftest import child_env, make


def run_child(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(path)], env=child_env(), capture_output=True, text=True, timeout=120
    )


# -- W&B's parameter names (§15.2) ----------------------------------------------------------


def test_w_and_b_keywords_work_on_the_core_api(reg: artreg.Registry, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("f")
    art = artreg.Artifact("ds", "dataset")
    art.add_dir(local_path=tmp_path / "d", name="d")
    with reg.init(project="zoo", entity="team", id="abc123", job_type="prep") as run:
        assert (run.id, run.entity, run.project, run.path) == ("abc123", "team", "zoo", "team/zoo/abc123")
        v = run.log_artifact(artifact_or_path=art, aliases=["best"], tags=["t1"])
        used = run.use_artifact(artifact_or_name="ds:best", type="dataset")
        link = run.link_artifact(artifact=v, target_path="wandb-registry-dataset/Zoo", aliases=["prod"])
        with pytest.raises(artreg.TypeMismatch):
            run.use_artifact("ds:best", type="model")
    assert used == v and link.source_version == v and link.aliases == ["latest", "prod"]
    again = v.link(target_path="wandb-registry-dataset/Zoo", aliases=["staging"])
    assert again == link and again.aliases == ["latest", "prod", "staging"]
    assert reg.artifact(name="zoo/ds:v0", type="dataset") == v
    with pytest.raises(artreg.TypeMismatch):
        reg.artifact("zoo/ds", type="model")


def test_drafts_are_logged_where_w_and_b_logs_them(reg: artreg.Registry) -> None:
    with reg.init("zoo", job_type="train") as run:
        used = run.use_artifact(make(x="1"), aliases=["input"])
        link = run.link_artifact(make("m", type="model", w="2"), "wandb-registry-model/Zoo")
    assert used.aliases == ["input", "latest"] and used.logged_by() == [run] and used.used_by() == [run]
    assert link.source_version is not None and link.source_version.logged_by() == [run]


def test_path_logged_by_a_run_takes_name_and_type_positionally(reg: artreg.Registry, tmp_path: Path) -> None:
    (tmp_path / "my_model.txt").write_text("Model: 0.5")
    with reg.init("registry_quickstart") as run:
        v = run.log_artifact(str(tmp_path / "my_model.txt"), "gemma-finetuned", "model")
    assert (v.name, v.type, [e.path for e in v.files()]) == ("gemma-finetuned:v0", "model", ["my_model.txt"])


def test_latest_among_given_aliases_is_accepted(reg: artreg.Registry) -> None:
    v0 = reg.log_artifact(make(x="0"), project="p", aliases=["latest", "best"])
    v1 = reg.log_artifact(make(x="1"), project="p", aliases=["latest"])
    assert (v0.aliases, reg.artifact("p/ds").aliases) == (["best", "latest"], ["latest"])
    v0.refresh()
    assert v0.aliases == ["best"] and reg.artifact("p/ds:latest") == v1
    link = v0.link("wandb-registry-dataset/Zoo", ["latest", "first"])
    assert link.aliases == ["first", "latest"]
    with pytest.raises(artreg.InvalidName):
        reg.log_artifact(make(x="2"), project="p", aliases=["v9"])
    assert [v.index for v in reg.artifacts("p", "ds")] == [1, 0]


def test_new_file_modes_are_w_and_b_s(reg: artreg.Registry) -> None:
    art = artreg.Artifact("ds", "dataset")
    with art.new_file("a.txt") as f:  # W&B's default mode "x": a text file
        f.write("é")
    with pytest.raises(artreg.AlreadyExists), art.new_file("a.txt", mode="x") as f:
        f.write("other")
    with art.new_file("a.txt", mode="w") as f:  # "w" replaces
        f.write("second")
    with art.new_file("b.bin", mode="xb") as f:
        f.write(b"\x00\x01")
    with art.new_file("c.txt", mode="w", encoding="latin-1") as f:
        f.write("é")
    with pytest.raises(artreg.InvalidName), art.new_file("d.txt", mode="r"):
        pass
    v = reg.log_artifact(art, project="p")
    assert [v.open(p).read() for p in ("a.txt", "b.bin", "c.txt")] == [b"second", b"\x00\x01", "é".encode("latin-1")]


def test_registry_names_match_in_any_case(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make("m", type="model", w="1"), project="p")
    link = v.link("my-org/wandb-registry-Model/Zoo_Classifier_Models", aliases=["production-us"])
    assert link.project == "wandb-registry-model"
    assert reg.artifact("wandb-registry-MODEL/Zoo_Classifier_Models:production-us") == link
    assert reg.registry("Model").name == "model"
    assert [c.name for c in reg.collections("wandb-registry-Model")] == ["Zoo_Classifier_Models"]
    reg.create_registry("Zoo")
    with pytest.raises(artreg.AlreadyExists, match="ignore case"):
        reg.create_registry("zoo")
    other = reg.create_registry("other")
    with pytest.raises(artreg.AlreadyExists):
        other.rename("ZOO")
    reg.registry("zoo").rename("ZOO")  # its own name in another case is fine
    assert [r.name for r in reg.registries()] == ["ZOO", "dataset", "model", "other"]


def test_s3_reference_without_checksum_is_one_entry_and_asks_no_server(reg: artreg.Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens: any request would fail
    art = artreg.Artifact("mnist", "dataset")
    (entry,) = art.add_reference("s3://moe-wandb/datasets", checksum=False)
    assert (entry.path, entry.ref) == ("datasets", "s3://moe-wandb/datasets")
    (named,) = art.add_reference("s3://moe-wandb/a/b/c.txt", name="renamed", checksum=False)
    assert named.path == "renamed"
    (keyed,) = art.add_reference("s3://moe-wandb/a/b/c.txt", checksum=False)
    assert keyed.path == "a/b/c.txt"  # W&B puts the whole key there
    v = reg.log_artifact(art, project="p")
    assert [e.ref for e in v.files()] == ["s3://moe-wandb/a/b/c.txt", "s3://moe-wandb/datasets", "s3://moe-wandb/a/b/c.txt"]
    again = artreg.Artifact("mnist", "dataset")
    for uri in ("s3://moe-wandb/datasets", "s3://moe-wandb/a/b/c.txt"):
        again.add_reference(uri, checksum=False)
    again.add_reference("s3://moe-wandb/a/b/c.txt", name="renamed", checksum=False)
    assert reg.log_artifact(again, project="p") == v  # the same locations: the same version


def test_file_folder_reference_without_checksum_is_one_entry_per_file(reg: artreg.Registry, src: Path) -> None:
    art = artreg.Artifact("raw", "dataset")
    entries = art.add_reference(src.as_uri(), checksum=False)
    assert sorted(e.path for e in entries) == ["a.txt", "big.bin", "sub/b.txt"]
    assert {e.ref for e in entries} == {(src / p).as_uri() for p in ("a.txt", "big.bin", "sub/b.txt")}
    v = reg.log_artifact(art, project="p")
    assert all(e.extra["checksum"] == "none" for e in v.files())


# -- runs: ids, resume, config, summary, history ---------------------------------------------


def test_run_ids_are_unique_in_a_project_and_resume_on_request(reg: artreg.Registry) -> None:
    with reg.init("p", id="same") as first:
        first.log({"loss": 1.0})
    with pytest.raises(artreg.AlreadyExists):
        reg.init("p", id="same")
    with reg.init("q", id="same") as elsewhere:  # ids are per project
        assert elsewhere.id == "same" and elsewhere != first
    with reg.init("p", id="same", resume="allow") as resumed:
        assert resumed == first and resumed.state == "running" and resumed.step == 1
        resumed.log({"loss": 0.5})
    assert [row["loss"] for row in resumed.history()] == [1.0, 0.5]
    with pytest.raises(artreg.NotFound):
        reg.init("p", id="never", resume="must")
    with pytest.raises(artreg.InvalidName):
        reg.init("p", id="has space")
    with pytest.raises(artreg.InvalidName):
        reg.init("p", resume="sometimes")


def test_log_keeps_history_per_step_and_summary_keeps_the_last_value(reg: artreg.Registry) -> None:
    run = reg.init("p")
    run.log({"loss": 0.9, "acc": 0.1})
    run.log({"loss": 0.5}, commit=False)
    run.log({"acc": 0.6})  # the same step as the line before
    run.log({"loss": 0.2}, step=5)  # held until a later step comes
    run.log({"acc": 0.9}, step=5)
    with pytest.warns(UserWarning, match="before the current step"):
        run.log({"loss": 7.0}, step=1)
    run.log({"loss": float("nan"), "lr": 1e-3, "note": "diverged", "vec": [1, 2]}, step=6, commit=True)
    run.log({"nested": {"a": 1}})
    assert run.step == 8
    run.finish()
    history = run.history()
    assert [h["_step"] for h in history] == [0, 1, 5, 6, 7]
    assert history[1] == {"loss": 0.5, "acc": 0.6, "_step": 1}
    assert history[2] == {"loss": 0.2, "acc": 0.9, "_step": 5}
    assert math.isnan(history[3]["loss"]) and history[3]["vec"] == [1, 2]
    again = artreg.Run(reg, run._row)  # read back from the file
    assert again.summary["acc"] == 0.9 and math.isnan(again.summary["loss"]) and again.summary["nested"] == {"a": 1}
    assert again.history()[2] == history[2]


def test_pending_step_is_written_when_the_run_finishes(reg: artreg.Registry) -> None:
    with reg.init("p") as run:
        run.log({"x": 1}, step=3)
    assert run.history() == [{"x": 1, "_step": 3}]


def test_config_and_summary_save_every_change(reg: artreg.Registry) -> None:
    run = reg.init("p", config={"lr": 0.1})
    run.config["batch"] = 32
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.summary["best"] = 0.75
    run.summary.update({"epochs": 3})
    del run.summary["epochs"]
    other = artreg.Run(reg, run._row)
    assert other.config == {"lr": 0.2, "batch": 32} and other.config.lr == 0.2
    assert dict(other.summary) == {"best": 0.75}
    other.config["seed"] = 1  # another handle's change is merged, not overwritten
    run.config["epochs"] = 5
    assert artreg.Run(reg, run._row).config == {"lr": 0.2, "batch": 32, "seed": 1, "epochs": 5}
    run.finish()


def test_bad_metrics_and_config_are_refused_and_change_nothing(reg: artreg.Registry) -> None:
    run = reg.init("p", config={"a": 1})
    with pytest.raises(artreg.InvalidName, match="object"):
        run.log({"img": object()})
    with pytest.raises(artreg.InvalidName):
        run.log({1: 2})  # type: ignore[dict-item]
    with pytest.raises(artreg.InvalidName):
        run.log([1, 2])  # type: ignore[arg-type]
    with pytest.raises(artreg.InvalidName):
        run.log({"x": 1}, step=-1)
    with pytest.raises(artreg.InvalidName):
        run.config["bad"] = float("nan")
    with pytest.raises(artreg.InvalidName):
        run.finish(exit_code="1")  # type: ignore[arg-type]
    assert run.history() == [] and run.config == {"a": 1} and run.step == 0
    run.finish(exit_code=2)
    assert (run.state, run.error) == ("crashed", "exit code 2")
    with pytest.raises(artreg.ArtregError):
        run.log({"x": 1})


class _Scalar:
    """Like a numpy or torch scalar: ``.item()`` gives the Python number."""

    def item(self) -> float:
        return 0.25


def test_scalars_of_array_libraries_are_logged_as_numbers(reg: artreg.Registry) -> None:
    with reg.init("p") as run:
        run.log({"loss": _Scalar()})
    assert run.history() == [{"loss": 0.25, "_step": 0}]


# -- finished at exit, crashed on an uncaught exception -------------------------------------


def test_a_run_left_unfinished_is_finished_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    child = run_child(
        """
        import sys, artreg
        reg = artreg.open(sys.argv[1])
        run = reg.init("p", id="normal")
        run.log({"x": 1}, step=2)   # a pending step is written too
        print(run.state)
        """,
        path,
    )
    assert child.returncode == 0, child.stderr
    with artreg.open(path) as reg:
        (row,) = reg._db.connection().execute("SELECT id, state, error FROM runs WHERE run_key = 'normal'").fetchall()
        assert row[1:] == ("finished", None)
        assert artreg.Run(reg, row[0]).history() == [{"x": 1, "_step": 2}]


def test_a_run_is_crashed_when_the_program_dies_of_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    child = run_child(
        """
        import sys, artreg
        seen = []
        sys.excepthook = lambda *exc: seen.append(exc) or print("user hook ran", file=sys.stderr)
        reg = artreg.open(sys.argv[1])
        done = reg.init("p", id="done")
        done.finish()
        run = reg.init("p", id="boom")
        reg.close()  # even with the registry object closed
        raise RuntimeError("diverged")
        """,
        path,
    )
    assert child.returncode == 1 and "user hook ran" in child.stderr  # the previous hook still runs
    with artreg.open(path) as reg:
        rows = dict(reg._db.connection().execute("SELECT run_key, state || ':' || coalesce(error, '') FROM runs").fetchall())
    assert rows == {"done": "finished:", "boom": "crashed:RuntimeError: diverged"}


def test_a_forked_child_exiting_leaves_the_parent_s_run_alone(tmp_path: Path) -> None:
    path = tmp_path / "reg"
    child = run_child(
        """
        import os, sys, artreg
        reg = artreg.open(sys.argv[1])
        run = reg.init("p", id="parent")
        pid = os.fork()
        if pid == 0:
            sys.exit(0)   # runs atexit in the child
        os.waitpid(pid, 0)
        with artreg.open(sys.argv[1]) as other:
            print(other._db.connection().execute("SELECT state FROM runs").fetchone()[0])
        """,
        path,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["running"]
    with artreg.open(path) as reg:
        assert reg._db.connection().execute("SELECT state FROM runs").fetchone()[0] == "finished"


def test_history_survives_as_json_in_the_file(reg: artreg.Registry) -> None:
    with reg.init("p") as run:
        run.log({"loss": 0.5})
    raw = reg._db.connection().execute("SELECT data FROM run_history").fetchone()[0]
    assert json.loads(raw) == {"loss": 0.5}
