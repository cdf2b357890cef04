"""SPEC §15: ``artreg.wandb``'s shapes and types are W&B's (Artifact, Run, Api, registries, errors)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

import artreg
import artreg.wandb as wandb
from artreg.wandb import errors


@pytest.fixture
def reg(tmp_path: Path) -> artreg.Registry:  # type: ignore[misc]
    registry = wandb.use_registry(artreg.open(tmp_path / "reg", inline_limit=1024))
    yield registry
    registry.close()


def draft(name: str = "ds", type: str = "dataset", **files: str) -> wandb.Artifact:
    artifact = wandb.Artifact(name, type)
    for path, content in (files or {"a.txt": "a"}).items():
        with artifact.new_file(path) as f:
            f.write(content)
    return artifact


def test_one_object_is_the_draft_then_the_version(reg: artreg.Registry) -> None:
    artifact = draft()
    assert (artifact.state, artifact.name, artifact.id, artifact.is_draft()) == ("PENDING", "ds", None, True)
    for attribute in ("version", "source_version", "created_at", "aliases", "tags", "entity", "project"):
        with pytest.raises(errors.ArtifactNotLoggedError, match=f"'Artifact.{attribute}' used prior to logging artifact"):
            getattr(artifact, attribute)
        assert not hasattr(artifact, attribute)  # W&B's error is an AttributeError
    with pytest.raises(errors.ArtifactNotLoggedError, match="'Artifact.entity'"):  # as in W&B, through entity
        _ = artifact.qualified_name
    with pytest.raises(errors.ArtifactNotLoggedError):
        artifact.wait()
    with pytest.raises(errors.ArtifactNotLoggedError):
        artifact.download()
    with wandb.init(project="zoo", entity="team") as run:
        returned = run.log_artifact(artifact, aliases=["best"])
    assert returned is artifact and artifact.wait() is artifact
    assert (artifact.state, artifact.name, artifact.version, artifact.source_version) == ("COMMITTED", "ds:v0", "v0", "v0")
    assert artifact.qualified_name == "team/zoo/ds:v0" and artifact.entity == "team" and artifact.project == "zoo"
    assert datetime.fromisoformat(artifact.created_at).tzinfo is not None
    assert artifact.aliases == ["best", "latest"] and artifact.tags == [] and artifact.file_count == 1
    producer = artifact.logged_by()
    assert producer is not None and producer.id == run.id and producer.name == run.name
    with pytest.raises(errors.ArtifactFinalizedError, match="Can't modify finalized artifact"):
        artifact.add_file(__file__)
    artifact.delete(delete_aliases=True)
    assert artifact.state == "DELETED"


def test_links_read_as_w_and_b_s(reg: artreg.Registry) -> None:
    with wandb.init(project="zoo") as run:
        artifact = run.log_artifact(draft("m", "model"))
        link = run.link_artifact(artifact, "wandb-registry-model/Zoo", aliases=["prod"])
    assert link.is_link and not artifact.is_link
    assert (link.name, link.version, link.source_version, link.source_name) == ("Zoo:v0", "v0", "v0", "m:v0")
    assert link.project == "wandb-registry-model" and link.collection.name == "Zoo" and not link.collection.is_sequence()
    assert link.source_artifact == artifact and [a.name for a in artifact.linked_artifacts] == ["Zoo:v0"]
    assert link.logged_by() is not None
    link.unlink()
    assert artifact.linked_artifacts == []
    with pytest.raises(artreg.InvalidName, match="not a linked artifact"):
        artifact.unlink()


def test_manifest_files_and_entries(reg: artreg.Registry, tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 5000)
    artifact = draft(**{"a.txt": "alpha", "sub/b.txt": "bravo"})
    artifact.add_file(str(tmp_path / "big.bin"), name="big.bin")
    manifest = artifact.manifest.to_manifest_json()  # a draft's manifest too
    assert set(manifest["contents"]) == {"a.txt", "sub/b.txt", "big.bin"}
    with wandb.init(project="p") as run:
        run.log_artifact(artifact)
    manifest = artifact.manifest.to_manifest_json()
    assert manifest["version"] == 1 and manifest["contents"]["a.txt"] == {"digest": artifact.get_entry("a.txt").digest, "size": 5}
    files = artifact.files()
    assert [f.name for f in files] == ["a.txt", "big.bin", "sub/b.txt"]
    assert [f.name for f in artifact.files(names=["sub/b.txt"])] == ["sub/b.txt"]
    assert files[0].url == "artreg://p/ds:v0/a.txt" and files[0].size == 5 and len(files[0].digest) == 64
    assert files[1].direct_url.endswith(files[1].digest[2:])  # a blob file
    with files[2].download(root=str(tmp_path / "one")) as handle:
        assert handle.read() == "bravo"
    with pytest.raises(ValueError, match="already exists"):
        files[2].download(root=str(tmp_path / "one"))
    entry = artifact.get_entry("sub/b.txt")
    assert Path(entry.download()).read_text() == "bravo" and artifact.get_path("a.txt").path == "a.txt"
    with pytest.raises(KeyError):
        artifact.get_entry("nope")
    with pytest.raises(artreg.NotFound):
        artifact.get_entry("nope")
    root = artifact.download()
    artifact.verify(root)
    Path(root, "a.txt").write_text("changed")
    with pytest.raises(ValueError, match="mismatched"):
        artifact.verify(root)
    # another artifact refers to an entry of this one: the same bytes, not copied
    derived = wandb.Artifact("derived", "dataset")
    (ref,) = derived.add_reference(entry.ref_url())
    assert ref.path == "sub/b.txt" and ref.digest == entry.digest
    with wandb.init(project="p") as run:
        run.log_artifact(derived)
    assert derived._core().open("sub/b.txt").read() == b"bravo"


def test_draft_editing_follows_w_and_b(reg: artreg.Registry, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("f")
    artifact = wandb.Artifact("ds", "dataset", description="d", metadata={"k": 1}, incremental=True, use_as="x", storage_region="eu")
    entry = artifact.add_file(str(tmp_path / "f.txt"), is_tmp=True, skip_cache=True, policy="immutable")
    assert entry.path.endswith(".txt") and entry.path != "f.txt" and len(entry.path) == 24
    assert artifact.get_added_local_path_name(str(tmp_path / "f.txt")) == entry.path
    with pytest.raises(ValueError, match="policy"):
        artifact.add_file(str(tmp_path / "f.txt"), policy="sometimes")
    with pytest.raises(ValueError, match="not a file"):
        artifact.add_file(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        artifact.remove("missing.txt")
    artifact.remove(entry)
    with pytest.raises(errors.UnsupportedError, match="new_file"):
        artifact.add(object(), "table")
    with pytest.raises(errors.UnsupportedError, match="new_file"):
        artifact["table"] = object()
    with pytest.raises(errors.UnsupportedError, match="get_entry"):
        artifact.get("table")


@pytest.mark.parametrize(
    ("name", "type_"),
    [("a/b", "dataset"), ("has space", "dataset"), ("ok", "wandb-history"), ("ok", "job"), ("run-x", "run_table"), ("source-x", "code")],
)
def test_w_and_b_refuses_these_names_and_types(name: str, type_: str) -> None:
    with pytest.raises(ValueError) as caught:
        wandb.Artifact(name, type_)
    assert isinstance(caught.value, artreg.ArtregError)


def test_init_takes_every_w_and_b_argument(reg: artreg.Registry, tmp_path: Path) -> None:
    run = wandb.init(
        entity="team", project="p", dir=str(tmp_path), id="run1", name="first", notes="n", tags=["a"], config={"x": 1, "y": 2},
        config_exclude_keys=["y"], config_include_keys=None, allow_val_change=True, group="g", job_type="train", mode="offline",
        force=True, reinit=None, resume="allow", resume_from=None, fork_from=None, save_code=True, tensorboard=False,
        sync_tensorboard=False, monitor_gym=False, settings=wandb.Settings(silent=True), anonymous="allow",
    )
    fields = (run.id, run.name, run.entity, run.group, run.job_type, run.tags, run.notes)
    assert fields == ("run1", "first", "team", "g", "train", ("a",), "n")
    assert run.config == {"x": 1} and wandb.run is run and wandb.config is run.config
    wandb.log({"acc": 0.5})
    assert wandb.summary["acc"] == 0.5 and run.step == 1
    second = wandb.init(project="p")  # W&B finishes the run in progress first
    assert run.state == "finished" and wandb.run is second
    assert wandb.init(reinit="return_previous") is second
    wandb.finish()
    assert wandb.run is None and second.state == "finished"
    with pytest.raises(errors.UsageError, match="wandb.init"):
        wandb.log({"acc": 1})
    disabled = wandb.init(mode="disabled")
    disabled.log({"x": 1})
    assert wandb.run is None and wandb.login() is True


def test_models_log_use_and_link(reg: artreg.Registry, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"weights")
    with wandb.init(project="p") as run:
        run.log_model(str(tmp_path / "model.pt"), name="clf", aliases=["best"])
        path = run.use_model("clf:best")
        assert Path(path).read_bytes() == b"weights" and Path(path).name == "model.pt"
        link = run.link_model(str(tmp_path / "model.pt"), "Zoo", name="clf", aliases=["staging"])
        run.log_model(str(tmp_path / "model.pt"))  # default name: run-<id>-<file name>
        with pytest.raises(AssertionError):
            run.link_model(str(tmp_path / "model.pt"), "team/Zoo")
    assert link is not None and link.name == "Zoo:v0" and link.aliases == ["latest", "staging"]
    assert reg.artifact(f"p/run-{run.id}-model.pt").type == "model"
    assert reg.artifact("p/clf").index == 0  # the same content: the same version


def test_api_finds_what_w_and_b_s_api_finds(reg: artreg.Registry) -> None:
    with wandb.init(project="p", id="r1") as run:
        for i in range(3):
            run.log_artifact(draft(**{"a.txt": str(i)}), tags=["even"] if i % 2 == 0 else None)
        run.log({"loss": 0.5})
        run.log({"loss": 0.25})
    api = wandb.Api(overrides={"project": "p"})
    assert [a.version for a in api.artifacts("dataset", "p/ds")] == ["v2", "v1", "v0"]
    assert [a.version for a in api.artifacts("dataset", "team/p/ds", tags=["even"])] == ["v2", "v0"]
    assert [a.version for a in api.artifact_versions("dataset", "ds")] == ["v2", "v1", "v0"]
    assert api.artifact("ds:v1", type="dataset").version == "v1"
    with pytest.raises(ValueError):
        api.artifact("ds", type="model")
    with pytest.raises(errors.CommError):
        api.artifact("p/nope:latest")
    assert api.artifact_exists("p/ds:v0") and not api.artifact_exists("p/ds:v9") and not api.artifact_exists("p/nope")
    assert api.artifact_collection_exists("p/ds", "dataset") and not api.artifact_collection_exists("p/ds", "model")
    collection = api.artifact_collection("dataset", "p/ds")
    assert (collection.name, collection.type, collection.aliases) == ("ds", "dataset", ["latest"])
    assert [c.name for c in api.artifact_collections("p", "dataset")] == ["ds"]
    assert [t.name for t in api.artifact_types()] == ["dataset"] and [c.name for c in api.artifact_types("p")[0].collections()] == ["ds"]
    public = api.run("team/p/r1")
    assert (public.id, public.state, public.summary["loss"]) == ("r1", "finished", 0.25)
    assert public.history(pandas=False) == [{"loss": 0.5, "_step": 0}, {"loss": 0.25, "_step": 1}]
    assert [a.version for a in public.logged_artifacts()] == ["v0", "v1", "v2"]
    assert [r.id for r in api.runs("p")] == ["r1"] and api.runs("p", filters={"state": "running"}) == []
    with pytest.raises(errors.CommError):
        api.run("p/missing")


def test_registries_through_the_api(reg: artreg.Registry) -> None:
    api = wandb.Api()
    zoo = api.create_registry("Zoo", "restricted", description="animals", artifact_types=["model"])
    assert (zoo.name, zoo.visibility, zoo.description, zoo.artifact_types) == ("Zoo", "restricted", "animals", ["model"])
    assert api.registry("zoo").name == "Zoo" and api.registry("wandb-registry-Zoo").name == "Zoo"
    with pytest.raises(errors.CommError):
        api.registry("missing")
    zoo.description = "more"
    zoo.visibility = "organization"
    zoo.artifact_types.append("dataset")
    zoo.save()
    again = api.registry("Zoo")
    assert (again.description, again.visibility, again.artifact_types) == ("more", "organization", ["dataset", "model"])
    assert [r.name for r in api.registries(filter={"name": {"$regex": "^[dm]"}})] == ["dataset", "model"]
    either = {"$or": [{"name": "Zoo"}, {"description": {"$contains": "dataset"}}]}
    assert [r.name for r in api.registries(filter=either)] == ["Zoo", "dataset"]
    with pytest.raises(artreg.InvalidName):
        api.registries(filter={"name": {"$near": 1}})


def test_save_outside_a_run_logs_in_a_run_of_its_own(reg: artreg.Registry) -> None:
    artifact = draft()
    artifact.save(project="p")
    assert artifact.version == "v0" and wandb.run is None
    producer = artifact.logged_by()
    assert producer is not None and producer.job_type == "auto" and producer.state == "finished"
    link = draft("m", "model").link("wandb-registry-model/Zoo")
    assert link.source_version == "v0"


def test_metrics_and_config_round_trip_through_json(reg: artreg.Registry) -> None:
    with wandb.init(project="p", config={"nested": {"a": [1, 2]}}) as run:
        run.config.update({"lr": 0.1}, allow_val_change=True)
        run.summary["best"] = {"epoch": 3}
    stored = reg._db.connection().execute("SELECT config, summary FROM runs").fetchone()
    assert json.loads(stored[0]) == {"nested": {"a": [1, 2]}, "lr": 0.1} and json.loads(stored[1]) == {"best": {"epoch": 3}}
