"""SPEC §9: runs, producer and consumer edges, and the lineage graph."""

from __future__ import annotations

import json
import re

import pytest

import artreg
from conftest import make


def test_run_states(reg: artreg.Registry) -> None:
    with reg.init("zoo", job_type="train", config={"lr": 0.1}) as run:
        assert run.state == "running"
        assert (run.project, run.job_type, run.config, run.created_by) == ("zoo", "train", {"lr": 0.1}, "tester")
        assert run.name == f"train-{run._row}"  # the run's number in the file
        assert re.fullmatch(r"[a-z0-9]{8}", run.id)  # W&B's kind of run id (SPEC §15)
    assert run.state == "finished" and run.finished_at is not None and run.error is None
    with pytest.raises(RuntimeError), reg.init("zoo", name="boom") as crashed:
        raise RuntimeError("diverged")
    assert (crashed.name, crashed.state, crashed.error) == ("boom", "crashed", "RuntimeError: diverged")
    crashed.finish()
    crashed.refresh()
    assert crashed.state == "crashed"


def test_bad_run_arguments(reg: artreg.Registry) -> None:
    with pytest.raises(artreg.InvalidName):
        reg.init("a/b")
    with pytest.raises(artreg.InvalidName):
        reg.init("zoo", config={"x": float("nan")})
    with pytest.raises(artreg.InvalidName):
        reg.init("zoo", job_type="")
    assert reg.projects() == []


def test_log_and_use_record_edges(reg: artreg.Registry) -> None:
    with reg.init("zoo", job_type="prep") as prep:
        data = prep.log_artifact(make(rows="1,2"))
    with reg.init("zoo", job_type="train") as train:
        used = train.use_artifact("ds:latest")
        train.use_artifact(data)  # the same version twice: one edge
        model = train.log_artifact(make("model", type="model", w="0.5"), aliases=["best"])
    assert used == data
    assert model.project == "zoo" and model.aliases == ["best", "latest"]
    assert prep.logged_artifacts() == [data] and prep.used_artifacts() == []
    assert train.used_artifacts() == [data] and train.logged_artifacts() == [model]
    assert data.logged_by() == [prep] and data.used_by() == [train]
    assert model.logged_by() == [train] and model.used_by() == []


def test_dedup_keeps_every_producer(reg: artreg.Registry) -> None:
    runs = []
    for _ in range(3):
        with reg.init("zoo") as run:
            v = run.log_artifact(make(x="same"))
        runs.append(run)
    assert v.index == 0
    assert v.logged_by() == runs


def test_log_without_a_run_has_no_producer_run(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(x="a"), project="zoo")
    assert v.logged_by() == [] and v.created_by == "tester"


def test_finished_run_refuses_work(reg: artreg.Registry) -> None:
    with reg.init("zoo") as run:
        v = run.log_artifact(make(x="a"))
    with pytest.raises(artreg.ArtregError, match="finished"):
        run.log_artifact(make(x="b"))
    with pytest.raises(artreg.ArtregError, match="finished"):
        run.use_artifact(v)


def test_using_a_deleted_or_missing_version(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(x="a"), project="zoo")
    with reg.init("zoo") as run:
        with pytest.raises(artreg.NotFound):
            run.use_artifact("ds:v9")
        v.delete(delete_aliases=True)
        with pytest.raises(artreg.NotFound):
            run.use_artifact(v)
    assert run.used_artifacts() == []


def pipeline(reg: artreg.Registry) -> dict[str, artreg.ArtifactVersion]:
    """dataset -> train -> model -> eval -> report."""
    with reg.init("zoo", job_type="prep") as run:
        dataset = run.log_artifact(make("dataset", rows="1"))
    with reg.init("zoo", job_type="train") as run:
        run.use_artifact(dataset)
        model = run.log_artifact(make("model", type="model", w="1"))
    with reg.init("zoo", job_type="eval") as run:
        run.use_artifact(model)
        run.use_artifact(dataset)
        report = run.log_artifact(make("report", type="report", acc="0.9"))
    return {"dataset": dataset, "model": model, "report": report}


def test_lineage_of_a_pipeline(reg: artreg.Registry) -> None:
    p = pipeline(reg)
    up = p["report"].lineage("upstream")
    labels = sorted(n.label for n in up.nodes)
    assert labels == ["zoo/dataset:v0", "zoo/eval-3", "zoo/model:v0", "zoo/prep-1", "zoo/report:v0", "zoo/train-2"]
    assert len(up.edges) == 6
    down = p["dataset"].lineage("downstream")
    assert sorted(n.label for n in down.nodes) == ["zoo/dataset:v0", "zoo/eval-3", "zoo/model:v0", "zoo/report:v0", "zoo/train-2"]
    both = p["model"].lineage()
    assert {n.label for n in both.nodes} == {
        "zoo/dataset:v0", "zoo/prep-1", "zoo/train-2", "zoo/model:v0", "zoo/eval-3", "zoo/report:v0",
    }
    assert {(e.source, e.target, e.kind) for e in both.edges} >= {
        (f"run:{p['model'].logged_by()[0]._row}", f"version:{p['model'].id}", "produced"),
        (f"version:{p['model'].id}", f"run:{p['model'].used_by()[0]._row}", "used"),
    }


def test_lineage_depth(reg: artreg.Registry) -> None:
    p = pipeline(reg)
    one = p["report"].lineage("upstream", depth=1)
    assert sorted(n.label for n in one.nodes) == ["zoo/eval-3", "zoo/report:v0"]
    two = p["report"].lineage("upstream", depth=2)
    assert sorted(n.label for n in two.nodes) == ["zoo/dataset:v0", "zoo/eval-3", "zoo/model:v0", "zoo/report:v0"]
    zero = p["report"].lineage(depth=0)
    assert [n.label for n in zero.nodes] == ["zoo/report:v0"] and zero.edges == ()


def test_lineage_exports(reg: artreg.Registry) -> None:
    graph = pipeline(reg)["report"].lineage("upstream")
    data = json.loads(graph.to_json())
    assert data["root"] == graph.root and len(data["nodes"]) == 6 and len(data["edges"]) == 6
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count("->") == 6 and '"zoo/report:v0\\nreport"' in dot and "shape=box" in dot and "shape=ellipse" in dot
    mermaid = graph.to_mermaid()
    assert mermaid.startswith("flowchart LR\n")
    assert mermaid.count("-->") == 6
    assert 'run_1(["zoo/prep-1<br/>prep"])' in mermaid
    assert f'version_{graph.root.split(":")[1]}["zoo/report:v0<br/>report"]' in mermaid


def test_a_run_using_its_own_output_does_not_loop(reg: artreg.Registry) -> None:
    with reg.init("zoo") as run:
        v = run.log_artifact(make(x="a"))
        run.use_artifact(v)
    graph = v.lineage()
    assert len(graph.nodes) == 2 and len(graph.edges) == 2
    assert len(v.lineage(depth=50).nodes) == 2


def test_bad_lineage_arguments(reg: artreg.Registry) -> None:
    v = reg.log_artifact(make(x="a"), project="zoo")
    with pytest.raises(artreg.InvalidName, match="direction"):
        v.lineage("sideways")
    with pytest.raises(artreg.InvalidName, match="depth"):
        v.lineage(depth=-1)


def test_lineage_of_a_long_chain(mem: artreg.Registry) -> None:
    """5,000 runs and 5,001 versions in one chain (benchmarks/bench_lineage.py times it)."""
    first = mem.log_artifact(make("chain", x="0"), project="p")
    chain(mem, 5000)
    graph = first.lineage("downstream")
    assert len(graph.nodes) == 10_001 and len(graph.edges) == 10_000
    last = mem.artifact("p/chain:v5000")
    assert len(last.lineage("upstream").nodes) == 10_001
    assert len(last.lineage("upstream", depth=4).nodes) == 5


def chain(reg: artreg.Registry, n: int) -> None:
    """Append n (run uses v(k-1), logs vk) steps to collection p/chain, straight in SQL for speed."""
    stamp = "2026-01-01T00:00:00.000000Z"
    with reg._db.write() as con:
        con.executemany(
            "INSERT INTO runs(id, project_id, name, created_by, started_at) VALUES (?, 1, ?, 't', ?)",
            ((k, f"r{k}", stamp) for k in range(1, n + 1)),
        )
        con.executemany(
            "INSERT INTO versions(id, collection_id, idx, digest, size, file_count, created_at, created_by) "
            "VALUES (?, 1, ?, 'd', 0, 0, ?, 't')",
            ((k + 1, k, stamp) for k in range(1, n + 1)),
        )
        con.executemany("INSERT INTO run_inputs(run_id, version_id) VALUES (?, ?)", ((k, k) for k in range(1, n + 1)))
        con.executemany("INSERT INTO run_outputs(run_id, version_id) VALUES (?, ?)", ((k, k + 1) for k in range(1, n + 1)))
