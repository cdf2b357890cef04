"""SPEC §15: the code examples in W&B's SDK docstrings, and its public API's shapes, run under ``artreg.wandb``.

The examples are copied from the SDK's source (``wandb/apis/public/api.py``, ``runs.py``,
``projects.py``, ``registries/registry.py``, ``wandb/sdk/wandb_run.py``,
``wandb/sdk/artifacts/artifact.py``), verbatim apart from placeholders, which each test
names. Examples that fail in W&B as written (a wrong keyword, a method W&B does not have)
fail here the same way, and their corrected form runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from test_wandb_docs import Docs, docs  # noqa: F401 (a fixture)

import artreg
import artreg.wandb
from artreg.wandb import errors


@pytest.fixture
def sdk(docs: Docs) -> Docs:  # noqa: F811 (pytest hands the imported fixture in by name)
    """W&B installed over a fresh registry, as the documentation examples run (``test_wandb_docs.docs``)."""
    return docs


def series(sdk: Docs, name: str = "artifact_name", n: int = 25, project: str = "project", type: str = "type") -> None:
    for i in range(n):
        sdk.log(name, type=type, project=project, **{"x.txt": str(i)})


# == wandb/apis/public/api.py ======================================================================


def test_api_artifact_collection_example(sdk: Docs) -> None:
    """Placeholders kept: type "type", entity/project/artifact_name."""
    series(sdk, n=2)
    sdk.run('''
        import wandb

        collections = wandb.Api().artifact_collection(
            type_name="type", name="entity/project/artifact_name"
        )

        # Get the first artifact in the collection
        artifact_example = collections.artifacts()[0]

        # Download the contents of the artifact to the specified root directory.
        artifact_example.download()
    ''')
    assert sdk.ns["artifact_example"].version == "v1"
    assert (Path("artifacts", "artifact_name:v1", "x.txt")).read_text() == "1"


def test_api_artifacts_resume_from_a_saved_cursor(sdk: Docs) -> None:
    """Placeholders kept; the collection holds 25 versions, read 10 at a time."""
    series(sdk)
    sdk.run('''
        import wandb

        wandb.Api().artifacts(type_name="type", name="entity/project/artifact_name")
    ''')
    sdk.run('''
        from itertools import islice

        import wandb

        api = wandb.Api()

        # Consume the first page of results, then save the cursor.
        page_size = 10
        artifacts = api.artifacts(
            type_name="type",
            name="entity/project/artifact_name",
            per_page=page_size,
        )
        first_page = list(islice(artifacts, page_size))

        saved_cursor = artifacts.cursor

        # Later (e.g. in a new process), resume iteration from the saved cursor.
        remaining_artifacts = api.artifacts(
            type_name="type",
            name="entity/project/artifact_name",
            per_page=page_size,
            start=saved_cursor,
        )
    ''')
    first, rest = sdk.ns["first_page"], list(sdk.ns["remaining_artifacts"])
    assert [a.version for a in first] == [f"v{i}" for i in range(24, 14, -1)]
    assert [a.version for a in rest] == [f"v{i}" for i in range(14, -1, -1)]
    assert len(sdk.ns["artifacts"]) == 25 and sdk.ns["artifacts"].objects == first  # one page read, not 25 versions


def test_api_artifact_and_artifact_exists_examples(sdk: Docs) -> None:
    """Placeholders: project/entity kept, artifact -> "artifact", alias -> best, version -> v0."""
    sdk.log("artifact", aliases=("best",), project="project")
    sdk.run('''
        import wandb

        # Specify the project, artifact's name, and the artifact's alias
        wandb.Api().artifact(name="project/artifact:best")

        # Specify the project, artifact's name, and a specific artifact version
        wandb.Api().artifact(name="project/artifact:v0")

        # Specify the entity, project, artifact's name, and the artifact's alias
        wandb.Api().artifact(name="entity/project/artifact:best")

        # Specify the entity, project, artifact's name, and a specific artifact version
        wandb.Api().artifact(name="entity/project/artifact:v0")
    ''')
    found = sdk.run('''
        import wandb

        found = [wandb.Api().artifact_exists("entity/project/artifact:v0"),
                 wandb.Api().artifact_exists("entity/project/artifact:best")]
    ''')["found"]
    assert found == [True, True]
    assert not artreg.wandb.Api().artifact_exists("entity/project/artifact:v1")


def test_api_artifact_collection_exists_example_calls_the_class(sdk: Docs) -> None:
    """As written it calls the method on the class (no ``self``, and ``type`` given by keyword): TypeError
    in W&B as here. On an ``Api()`` it runs."""
    series(sdk, name="collection_name", n=1, project="uncategorized")
    with pytest.raises(TypeError):
        sdk.run('''
            import wandb

            wandb.Api.artifact_collection_exists(type="type", name="collection_name")
        ''')
    assert sdk.run('exists = wandb.Api().artifact_collection_exists(type="type", name="collection_name")')["exists"]


def test_api_registries_examples(sdk: Docs) -> None:
    """Placeholders: my_collection/my_tag and the aliases are made first; the registries are the core ones."""
    sdk.reg.create_registry("model-zoo")
    best = sdk.log("clf", type="model").link("wandb-registry-model/my_collection", ["best"])
    collection = sdk.reg.collection("wandb-registry-model/my_collection")
    collection.tags = ["my_tag"]
    collection.save()
    tagged = sdk.log("other", type="model")
    tagged.tags = ["prod"]
    tagged.save()
    tagged.link("wandb-registry-model/prod-models")
    sdk.run('''
        import wandb

        api = wandb.Api()  # specify an org if your entity belongs to multiple orgs
        found = api.registries(filter={"name": {"$regex": "model"}})
    ''')
    assert [r.name for r in sdk.ns["found"]] == ["model", "model-zoo"]
    found = sdk.run('found = api.registries().collections(filter={"name": "my_collection", "tag": "my_tag"})')["found"]
    assert [c.name for c in found] == ["my_collection"]
    found = sdk.run('''
        found = api.registries().collections(
            filter={"name": {"$regex": "my_collection"}}
        ).versions(filter={"alias": "best"})
    ''')["found"]
    assert [(a.name, a.source_version) for a in found] == [("my_collection:v0", "v0")] and found[0].id == str(best.id)
    found = sdk.run('''
        found = api.registries(filter={"name": {"$regex": "model"}}).versions(
            filter={"$or": [{"tag": "prod"}, {"alias": "best"}]}
        )
    ''')["found"]
    assert sorted(a.collection.name for a in found) == ["my_collection", "prod-models"]
    with pytest.raises(artreg.InvalidName, match="unknown filter operator"):  # checked when asked, as W&B's server does
        sdk.run('api.registries(filter={"name": {"$near": "model"}})')
    with pytest.raises(artreg.InvalidName):
        sdk.run('api.registries().collections().versions(filter={"alias": {"$bogus": 1}})')


def test_api_registries_resume_from_a_saved_cursor(sdk: Docs) -> None:
    """No placeholders; 25 registries besides the two core ones."""
    for i in range(25):
        sdk.reg.create_registry(f"r{i:02d}")
    sdk.run('''
        from itertools import islice

        import wandb

        api = wandb.Api()

        # Consume the first page of results, then save the cursor.
        page_size = 10
        registries = api.registries(per_page=page_size)
        first_page = list(islice(registries, page_size))

        saved_cursor = registries.cursor

        # Later (e.g. in a new process), resume iteration from the saved cursor.
        remaining_registries = api.registries(per_page=page_size, start=saved_cursor)
    ''')
    names = [r.name for r in sdk.ns["first_page"]] + [r.name for r in sdk.ns["remaining_registries"]]
    assert sorted(names) == sorted(["model", "dataset"] + [f"r{i:02d}" for i in range(25)]) and len(set(names)) == 27


def test_api_registry_and_create_registry_examples(sdk: Docs) -> None:
    """Placeholders kept (my-registry, my-org)."""
    sdk.run('''
        import wandb

        api = wandb.Api()
        registry = api.create_registry(
            name="my-registry",
            visibility="restricted",
            organization="my-org",
            description="This is a test registry",
            artifact_types=["model"],
        )
    ''')
    sdk.run('''
        import wandb

        api = wandb.Api()
        registry = api.registry(name="my-registry", organization="my-org")
        registry.description = "This is an updated description"
        registry.save()
    ''')
    catalog = sdk.reg.registry("my-registry")
    assert (catalog.description, catalog.visibility, catalog.artifact_types) == ("This is an updated description", "restricted", ["model"])


def test_registry_artifact_types_example(sdk: Docs) -> None:
    """``create_registry()`` without its required name and visibility is a TypeError in W&B as here; given them,
    the rest runs: a saved type stays, an unsaved one can be removed, and removing a saved one is refused."""
    with pytest.raises(TypeError):
        sdk.run("import wandb\nregistry = wandb.Api().create_registry()")
    sdk.run('''
        import wandb

        registry = wandb.Api().create_registry("typed", "organization", artifact_types=["dataset"])
        registry.artifact_types.append("model")
        registry.save()  # once saved, the artifact type `model` cannot be removed
        registry.artifact_types.append("accidentally_added")
        registry.artifact_types.remove(
            "accidentally_added"
        )  # Types can only be removed if it has not been saved yet
    ''')
    assert sdk.reg.registry("typed").artifact_types == ["dataset", "model"]
    registry = sdk.ns["registry"]
    registry.artifact_types.remove("model")
    with pytest.raises(artreg.InvalidName, match="cannot be removed"):
        registry.save()
    everything = artreg.wandb.Api().create_registry("anything", "organization")
    everything.artifact_types.append("model")
    with pytest.raises(ValueError, match="allows_all_artifact_types"):
        everything.save()


def test_registry_members_examples(sdk: Docs) -> None:
    """Placeholders: my-registry (made first), some-user/other-user kept. W&B's examples pass ``username=`` and
    ``name=``, which ``Api.user(username_or_email)`` and ``Api.team(team)`` do not take: TypeError in W&B as here.
    Users are names in a registry file; there are no teams (UnsupportedError)."""
    sdk.reg.create_registry("my-registry", visibility="restricted")
    with pytest.raises(TypeError):
        sdk.run('''
            import wandb

            api = wandb.Api()

            # Fetch an existing registry
            registry = api.registry(name="my-registry", organization="my-org")

            user1 = api.user(username="some-user")
        ''')
    sdk.run('''
        user1 = api.user("some-user")
        user2 = api.user("other-user")
        registry.add_members(user1, user2)
    ''')
    registry = sdk.ns["registry"]
    assert {(m.user.username, m.role) for m in registry.user_members()} >= {("some-user", "restricted_viewer"),
                                                                           ("other-user", "restricted_viewer")}
    sdk.run('''
        for member in registry.user_members():
            registry.update_member(member.user, role="admin")
    ''')
    assert sdk.reg.registry("my-registry").role("some-user") == "admin"
    sdk.run("registry.remove_members(user1, user2)")
    assert "some-user" not in sdk.reg.registry("my-registry").members() and registry.team_members() == []
    with pytest.raises(errors.UnsupportedError, match="add_members"):
        sdk.run('my_team = api.team("my-team")')
    with pytest.raises(artreg.InvalidName):
        registry.add_members()


def test_adding_a_member_never_lowers_the_role_they_have(sdk: Docs) -> None:
    """In an ``organization`` registry every user already has its default role; adding them keeps it."""
    api = artreg.wandb.Api()
    registry = api.create_registry("open", "organization")
    registry.add_members("carol")
    assert sdk.reg.registry("open").members()["carol"] == "member"


# == wandb/apis/public/runs.py and projects.py =====================================================


def test_runs_module_example(sdk: Docs) -> None:
    """Placeholder: entity/project -> entity/p; two finished runs, one with batch_size 32, one still running."""
    import wandb

    for batch_size in (32, 64):
        with wandb.init(project="p", config={"batch_size": batch_size}) as run:
            run.log({"loss": 1.0, "accuracy": 0.5})
            run.log_artifact(wandb.Artifact(f"out-{batch_size}", "result"))
    running = wandb.init(project="p", config={"batch_size": 32}, reinit="create_new")
    printed = sdk.run('''
        from wandb.apis.public import Api

        # Get runs matching filters
        runs = Api().runs(
            path="entity/p", filters={"state": "finished", "config.batch_size": 32}
        )

        # Access run data
        printed = []
        for run in runs:
            print(f"Run: {run.name}")
            print(f"Config: {run.config}")
            print(f"Metrics: {run.summary}")

            # Get history with pandas
            history_df = run.history(keys=["loss", "accuracy"], pandas=True)

            # Work with artifacts
            for artifact in run.logged_artifacts():
                print(f"Artifact: {artifact.name}")
                printed.append(artifact.name)
    ''')["printed"]
    assert printed == ["out-32:v0"] and len(sdk.ns["runs"]) == 1
    running.finish()


def test_run_logged_and_used_artifacts_examples(sdk: Docs) -> None:
    """No placeholders."""
    printed = sdk.run('''
        import wandb
        import tempfile

        with tempfile.NamedTemporaryFile(mode="w", delete=False, suffix=".txt") as tmp:
            tmp.write("This is a test artifact")
            tmp_path = tmp.name
        run = wandb.init(project="artifact-example")
        artifact = wandb.Artifact("test_artifact", type="dataset")
        artifact.add_file(tmp_path)
        run.log_artifact(artifact)
        run.finish()

        api = wandb.Api()

        finished_run = api.run(f"{run.entity}/{run.project}/{run.id}")

        printed = []
        for logged_artifact in finished_run.logged_artifacts():
            print(logged_artifact.name)
            printed.append(logged_artifact.name)
    ''')["printed"]
    assert printed == ["test_artifact:v0"]
    printed = sdk.run('''
        import wandb

        run = wandb.init(project="artifact-example")
        run.use_artifact("test_artifact:latest")
        run.finish()

        api = wandb.Api()
        finished_run = api.run(f"{run.entity}/{run.project}/{run.id}")
        printed = []
        for used_artifact in finished_run.used_artifacts():
            print(used_artifact.name)
            printed.append(used_artifact.name)
    ''')["printed"]
    assert printed == ["test_artifact:v0"]


def test_projects_module_example(sdk: Docs) -> None:
    """Placeholder: "entity" kept. Sweeps are not run offline: a project has none."""
    sdk.log("ds", project="p1")
    sdk.log("m", type="model", project="p2")
    printed = sdk.run('''
        from wandb.apis.public import Api

        # Get all projects for an entity
        projects = Api().projects("entity")

        printed = []
        # Access project data
        for project in projects:
            print(f"Project: {project.name}")
            print(f"URL: {project.url}")

            # Get artifact types
            for artifact_type in project.artifacts_types():
                print(f"Artifact Type: {artifact_type.name}")
                printed.append((project.name, artifact_type.name))

            # Get sweeps
            for sweep in project.sweeps():
                print(f"Sweep ID: {sweep.id}")
                print(f"State: {sweep.state}")
    ''')["printed"]
    assert printed == [("p1", "dataset"), ("p2", "model")]
    project = artreg.wandb.Api().project("p1", entity="team")
    assert (project.path, [c.name for c in project.collections()]) == (["team", "p1"], ["ds"])
    assert [c.name for c in project.collections(filters={"name": {"$regex": "^z"}})] == []
    with pytest.raises(ValueError, match="not found"):
        _ = artreg.wandb.Api().project("nowhere").id


# == wandb/sdk/wandb_run.py and wandb/sdk/artifacts/artifact.py ====================================


def test_run_link_artifact_example(sdk: Docs) -> None:
    """Placeholders: path/to/local/file made first; registry_name -> model (the type artifact_type is accepted first)."""
    sdk.file("path/to/local/file", "weights")
    sdk.reg.registry("model").add_artifact_types("artifact_type")
    sdk.run('''
        import wandb

        entity = "team_entity"
        project = "project_name"

        artifact_name = "artifact_name"
        artifact_type = "artifact_type"
        local_path = "path/to/local/file"

        registry_name = "model"
        collection_name = "collection_name"
        target_path = f"wandb-registry-{registry_name}/{collection_name}"

        with wandb.init(entity=entity, project=project) as run:
            # Create an artifact object
            artifact = wandb.Artifact(name=artifact_name, type=artifact_type)

            # Add the file to the artifact object.
            artifact.add_file(local_path=local_path)

            # Link the artifact to the collection
            run.link_artifact(artifact=artifact, target_path=target_path)
    ''')
    assert sdk.reg.artifact("wandb-registry-model/collection_name:v0").open("file").read() == b"weights"


def test_run_use_artifact_example(sdk: Docs) -> None:
    """Placeholders: <example> p, <name> ds, <alias> best, <version> 0, <entity> team, <project> p."""
    sdk.log("ds", project="p", aliases=("best",))
    sdk.run('''
        import wandb

        run = wandb.init(project="p")

        # Use an artifact by name and alias
        artifact_a = run.use_artifact(artifact_or_name="ds:best")

        # Use an artifact by name and version
        artifact_b = run.use_artifact(artifact_or_name="ds:v0")

        # Use an artifact by entity/project/name:alias
        artifact_c = run.use_artifact(
            artifact_or_name="team/p/ds:best"
        )

        # Use an artifact by entity/project/name:version
        artifact_d = run.use_artifact(
            artifact_or_name="team/p/ds:v0"
        )

        # Explicitly finish the run since a context manager is not used.
        run.finish()
    ''')
    assert {sdk.ns[k].id for k in ("artifact_a", "artifact_b", "artifact_c", "artifact_d")} == {str(sdk.reg.artifact("p/ds").id)}
    assert sdk.reg.artifact("p/ds").used_by()[0].state == "finished"


def test_artifact_history_step_example(sdk: Docs) -> None:
    """The example reads ``run.sample_history``, which W&B's public Run does not have (AttributeError there as
    here); ``history_step`` is the logging run's last committed step, and ``scan_history`` reads around it."""
    import wandb

    with wandb.init(project="p") as run:
        run.log({"my_metric": 1})
        run.log({"my_metric": 2})
        artifact = wandb.Artifact("a", "dataset")
        run.log_artifact(artifact)
        run.log({"my_metric": 3})
    with pytest.raises(AttributeError, match="sample_history"):
        sdk.run('''
            run = artifact.logged_by()
            if run and (artifact.history_step is not None):
                history = run.sample_history(
                    min_step=artifact.history_step,
                    max_step=artifact.history_step + 1,
                    keys=["my_metric"],
                )
        ''', artifact=artifact)
    assert artifact.history_step == 1
    rows = list(artifact.logged_by().scan_history(keys=["my_metric"], min_step=1, max_step=2))  # type: ignore[union-attr]
    assert rows == [{"my_metric": 2, "_step": 1}]
    with wandb.init(project="p") as quiet:
        logged = quiet.log_artifact(wandb.Artifact("b", "dataset"))
    assert logged.history_step is None  # the run had logged no step


# == typical W&B usage beyond the examples ==========================================================


def test_a_finished_run_refuses_further_calls_with_w_and_b_s_usage_error(sdk: Docs) -> None:
    import wandb

    sdk.log("ds")
    run = wandb.init()
    run.finish()
    for call in (lambda: run.log({"a": 1}), lambda: run.use_artifact("ds:latest"),
                 lambda: run.log_artifact(wandb.Artifact("x", "dataset")), lambda: run.log_model(__file__)):
        with pytest.raises(errors.UsageError, match=rf"Run \({run.id}\) is finished"):
            call()
    assert sdk.reg.artifact("ds").used_by() == []


def test_paginators_behave_as_w_and_b_s(sdk: Docs) -> None:
    series(sdk, n=7, project="p")
    api = artreg.wandb.Api()
    pages = api.artifacts("type", "p/artifact_name", per_page=3)
    assert (len(pages), pages.cursor, pages.more) == (7, None, True)
    assert next(pages).version == "v6" and pages[4].version == "v2" and [a.version for a in pages[1:3]] == ["v5", "v4"]
    assert pages[-1].version == "v0" and not pages.more and pages.cursor == "artreg-offset:7"
    assert [a.version for a in pages] == [f"v{i}" for i in range(6, -1, -1)]  # iterating again starts over
    with pytest.raises(IndexError):
        _ = pages[7]
    with pytest.raises(artreg.InvalidName, match="cursor"):
        api.artifacts("type", "p/artifact_name", start="page-2")
    with pytest.raises(artreg.InvalidName, match="per_page"):
        api.artifacts("type", "p/artifact_name", per_page=0)
    artifact = api.artifact("p/artifact_name:v3")
    files = artifact.files()
    assert (len(files), files[0].name, [f.name for f in files]) == (1, "x.txt", ["x.txt"])
    assert [a.version for a in api.artifact_collection("type", "p/artifact_name").versions()[:2]] == ["v6", "v5"]


def test_public_run_delete_is_refused_with_the_alternative(sdk: Docs) -> None:
    import wandb

    with wandb.init(project="p", id="r1") as run:
        run.log_artifact(wandb.Artifact("ds", "dataset"))
    with pytest.raises(errors.UnsupportedError, match="logged_artifacts"):
        wandb.Api().run("p/r1").delete(delete_artifacts=True)
    assert wandb.Api().run("p/r1").state == "finished" and sdk.reg.artifact("p/ds").state == "committed"


def test_collections_are_renamed_and_retyped_through_the_api(sdk: Docs) -> None:
    """W&B's ``ArtifactCollection.name`` / ``.type`` setters, then ``save()``; bad edits change nothing."""
    sdk.log("raw", project="p")
    sdk.log("taken", project="p")
    api = artreg.wandb.Api()
    collection = api.artifact_collection("dataset", "p/raw")
    collection.name = "clean"
    collection.type = "table"
    collection.description = "renamed"
    collection.save()
    assert api.artifact("p/clean:v0").type == "table" and not api.artifact_exists("p/raw:v0")
    assert api.artifact_collection("table", "p/clean").description == "renamed"
    collection.name = "taken"
    with pytest.raises(artreg.AlreadyExists):
        collection.save()
    collection.name, collection.type = "clean", "wandb-history"
    with pytest.raises(ValueError, match="reserved"):
        collection.save()
    sdk.reg.registry("dataset").add_artifact_types("table")
    sdk.reg.artifact("p/clean").link("wandb-registry-dataset/golden")
    collection = api.artifact_collection("table", "p/clean")
    collection.type = "dataset"
    with pytest.raises(artreg.TypeMismatch, match="unlink"):
        collection.save()
    linked = api.artifact_collection("table", "wandb-registry-dataset/golden")
    with pytest.raises(ValueError, match="sequence"):
        linked.type = "dataset"
    assert api.artifact("p/clean").type == "table"


def test_install_registers_the_modules_w_and_b_code_imports(sdk: Docs) -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from wandb.apis.public.artifacts import ArtifactCollection, ArtifactType\n"
        "from wandb.apis.public.runs import Run\n"
        "from wandb.apis.public.projects import Project\n"
        "from wandb.apis.public.registries import Registry\n"
        "from wandb.apis.public import User\n"
        "from wandb.sdk.artifacts.artifact_manifest import ArtifactManifest\n"
        "from wandb.sdk.wandb_settings import Settings\n"
        "from wandb.sdk.wandb_init import init\n",
        namespace,
    )
    assert namespace["Run"] is artreg.wandb._run.PublicRun and namespace["init"] is artreg.wandb.init
    assert isinstance(artreg.wandb.Api().project("p"), namespace["Project"])


def test_islice_reads_one_page_only(sdk: Docs) -> None:
    series(sdk, n=30, project="p")
    pages = artreg.wandb.Api().artifacts("type", "p/artifact_name", per_page=5)
    assert [a.version for a in itertools.islice(pages, 2)] == ["v29", "v28"] and len(pages.objects) == 5
