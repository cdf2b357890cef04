"""SPEC §15: W&B's own code examples run unchanged under ``artreg.wandb``.

Every snippet here is copied from the seed pages (shared/seeds) or from W&B's documentation
(wandb/docs: models/artifacts*.mdx and models/registry/*.mdx), verbatim apart from its
placeholders (``<...>``, ``[...]``, paths, names), which each test lists. Each runs with a
plain ``import wandb``, after ``artreg.wandb.install()``, against a registry in a temporary
folder. Files a snippet reads are made first; an S3 bucket a snippet names is a bucket of a
moto server on 127.0.0.1.

Snippets that cannot run as written say why in their test, and the test shows what happens
instead (the same failure W&B gives, or artreg's clear error): doc bugs that fail in W&B too
(an undefined name, a wrong keyword), W&B media objects (``wandb.Table``), Ray, run files.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import artreg
import artreg.wandb
from artreg.wandb import _state


@dataclass
class Docs:
    reg: artreg.Registry
    root: Path
    ns: dict[str, Any] = field(default_factory=dict)

    def run(self, code: str, **names: Any) -> dict[str, Any]:
        """Run a snippet (in a namespace shared with the snippets before it, as the pages read them in order)."""
        self.ns.update(names)
        exec(compile(textwrap.dedent(code), "<snippet>", "exec"), self.ns)
        return self.ns

    def file(self, path: str, content: str = "x") -> Path:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return target

    def log(
        self, name: str, type: str = "dataset", project: str = "uncategorized", aliases: tuple[str, ...] = (), **files: str
    ) -> artreg.ArtifactVersion:
        art = artreg.Artifact(name, type)
        for path, content in (files or {"data.txt": name}).items():
            with art.new_file(path.replace("__", "/")) as f:
                f.write(content)
        return self.reg.log_artifact(art, project=project, aliases=list(aliases))


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[Docs]:
    saved = {k: v for k, v in sys.modules.items() if k == "wandb" or k.startswith("wandb.")}
    meta = list(sys.meta_path)
    artreg.wandb.install()
    reg = artreg.wandb.use_registry(artreg.open(tmp_path / "reg", inline_limit=1024))
    try:
        yield Docs(reg, tmp_path)
    finally:
        current = _state.get_current()
        if current is not None:
            current.finish()
        reg.close()
        for key in [k for k in sys.modules if k == "wandb" or k.startswith("wandb.")]:
            del sys.modules[key]
        sys.modules.update(saved)
        sys.meta_path[:] = meta


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A boto3 client of the moto server, with dummy credentials; buckets are made by each test."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    client = boto3.session.Session().client("s3")
    yield client
    for bucket in client.list_buckets()["Buckets"]:
        for obj in client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            client.delete_object(Bucket=bucket["Name"], Key=obj["Key"])
        client.delete_bucket(Bucket=bucket["Name"])


def bucket(client: Any, name: str, objects: dict[str, bytes]) -> None:
    client.create_bucket(Bucket=name)
    for key, body in objects.items():
        client.put_object(Bucket=name, Key=key, Body=body)


# == seed 000: registry aliases =================================================================


def test_seed_000_link_with_custom_aliases(docs: Docs) -> None:
    """Placeholders: <team_entity> my-team, <project_name> zoo, <name> clf, <type> model,
    <local_path_to_artifact> model.pt, <registry_name> model, <collection_name> Zoo, <alias_N> a1/a2."""
    docs.file("model.pt")
    docs.run('''
        import wandb

        # Initialize a run
        run = wandb.init(entity = "my-team", project = "zoo")

        # Create an artifact object
        # The type parameter specifies both the type of the
        # artifact object and the collection type
        artifact = wandb.Artifact(name = "clf", type = "model")

        # Add the file to the artifact object.
        # Specify the path to the file on your local machine.
        artifact.add_file(local_path = "model.pt")

        # Specify the collection and registry to link the artifact to
        REGISTRY_NAME = "model"
        COLLECTION_NAME = "Zoo"
        target_path=f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"

        # Link the artifact version to the collection
        # Add one or more aliases to this artifact version
        run.link_artifact(
            artifact = artifact,
            target_path = target_path,
            aliases = ["a1", "a2"]
            )
    ''')
    link = docs.reg.artifact("wandb-registry-model/Zoo:a1")
    assert link.aliases == ["a1", "a2", "latest"] and link.source_version == docs.reg.artifact("zoo/clf:v0")


def test_seed_000_zoo_example(docs: Docs) -> None:
    """No placeholders. The page links a *dataset* into the Model registry, which accepts only
    ``model`` until an admin adds a type (in W&B as here), so the registry is set up to accept it."""
    docs.file("zoo_dataset.pt", "dataset")
    docs.file("zoo_labels.pt", "labels")
    docs.reg.registry("model").add_artifact_types("dataset")
    docs.run('''
        import wandb

        # Initialize a run
        run = wandb.init(entity = "smle-reg-team-2", project = "zoo_experiment")

        # Create an artifact object
        # The type parameter specifies both the type of the
        # artifact object and the collection type
        artifact = wandb.Artifact(name = "zoo_dataset", type = "dataset")

        # Add the file to the artifact object.
        # Specify the path to the file on your local machine.
        artifact.add_file(local_path="zoo_dataset.pt", name="zoo_dataset")
        artifact.add_file(local_path="zoo_labels.pt", name="zoo_labels")

        # Specify the collection and registry to link the artifact to
        REGISTRY_NAME = "Model"
        COLLECTION_NAME = "Zoo_Classifier_Models"
        target_path=f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"

        # Link the artifact version to the collection
        # Add one or more aliases to this artifact version
        run.link_artifact(
            artifact = artifact,
            target_path = target_path,
            aliases = ["production-us", "production-eu"]
            )
    ''')
    artifact = docs.ns["artifact"]
    assert (artifact.version, artifact.qualified_name) == ("v0", "smle-reg-team-2/zoo_experiment/zoo_dataset:v0")
    link = docs.reg.artifact("wandb-registry-model/Zoo_Classifier_Models:production-eu")
    assert sorted(e.path for e in link.files()) == ["zoo_dataset", "zoo_labels"]


def test_seed_000_without_the_registry_accepting_datasets_is_refused_clearly(docs: Docs) -> None:
    """The same page without the admin step: TypeMismatch (a ValueError) names the registry and the type."""
    docs.file("zoo_dataset.pt")
    with pytest.raises(artreg.TypeMismatch, match="does not accept artifacts of type 'dataset'"):
        docs.run('''
            import wandb
            run = wandb.init(entity = "smle-reg-team-2", project = "zoo_experiment")
            artifact = wandb.Artifact(name = "zoo_dataset", type = "dataset")
            artifact.add_file(local_path="zoo_dataset.pt", name="zoo_dataset")
            run.link_artifact(artifact = artifact, target_path = "wandb-registry-Model/Zoo_Classifier_Models")
        ''')


# == seed 001: artifacts overview (its code blocks lost their line breaks; restored here) ===========


def test_seed_001_log_a_dataset(docs: Docs) -> None:
    """No placeholders."""
    docs.run('''
        # 1. Log a dataset version as an artifact
        import wandb
        import os

        # Initialize a new W&B run to track this job
        run = wandb.init(project="artifacts-quickstart", job_type="dataset-creation")

        # Create a sample dataset to log as an artifact
        f = open('my-dataset.txt', 'w')
        f.write('Imagine this is a big dataset.')
        f.close()

        # Create a new artifact, which is a sample dataset
        dataset = wandb.Artifact('my-dataset', type='dataset')
        # Add files to the artifact, in this case a simple text file
        dataset.add_file('my-dataset.txt')
        # Log the artifact to save it as an output of this run
        run.log_artifact(dataset)

        wandb.finish()
    ''')
    v = docs.reg.artifact("artifacts-quickstart/my-dataset:latest")
    assert v.open("my-dataset.txt").read() == b"Imagine this is a big dataset."
    (run,) = v.logged_by()
    assert (run.state, run.job_type) == ("finished", "dataset-creation")
    assert artreg.wandb.run is None


def test_seed_001_reference_s3_with_checksum_and_use_the_draft(docs: Docs, s3: Any) -> None:
    """No placeholders; the bucket moe-wandb is on the local moto server."""
    bucket(s3, "moe-wandb", {"datasets/a.png": b"a", "datasets/b/c.png": b"cc"})
    docs.run('''
        import wandb
        run = wandb.init()
        artifact = wandb.Artifact("mnist", type="dataset")
        artifact.add_reference("s3://moe-wandb/datasets", checksum=True)

        # Track the artifact and mark it as an input to
        # this run in one swoop. A new artifact version
        # is only logged if the files in the bucket changed.
        run.use_artifact(artifact)

        # Perform training here...
    ''')
    v = docs.reg.artifact("mnist:latest")
    assert sorted(e.path for e in v.files()) == ["a.png", "b/c.png"] and v.used_by() == v.logged_by()
    again = docs.run('''
        artifact = wandb.Artifact("mnist", type="dataset")
        artifact.add_reference("s3://moe-wandb/datasets", checksum=True, max_objects=10500000)
        run.use_artifact(artifact)
    ''')["artifact"]
    assert again.version == "v0"  # unchanged bucket: no new version


def test_seed_001_consume_in_a_run_and_through_the_api(docs: Docs) -> None:
    """Placeholders: entity/project/artifact:alias -> team/proj/raw:best, artifact-type -> dataset."""
    docs.log("raw", project="proj", aliases=("best",))
    docs.run('''
        import wandb
        run = wandb.init()
        # Indicate we are using a dependency
        artifact = run.use_artifact('team/proj/raw:best', type='dataset')
        artifact_dir = artifact.download()
    ''')
    assert (Path(docs.ns["artifact_dir"]) / "data.txt").read_text() == "raw"
    assert Path(docs.ns["artifact_dir"]) == Path("artifacts", "raw:v0").resolve()
    docs.run('''
        import wandb
        api = wandb.Api()
        artifact = api.artifact("team/proj/raw:best")
        artifact.download()
    ''')
    printed = docs.run('''
        import wandb
        api = wandb.Api()
        artifact = api.artifact("team/proj/raw:best")
        # Loop through file URLs and apply filtering logic
        urls = []
        for f in artifact.files():
            #Implement filtering logic here and custom logic for downloading or handling
            print(f.url)
            urls.append(f.url)
    ''')["urls"]
    assert printed == ["artreg://proj/raw:v0/data.txt"]


def test_seed_001_download_s3_references_and_read_the_manifest(docs: Docs, s3: Any) -> None:
    """No placeholders: the project that_was_easy holds s3_file_references v0 (checksum) and v1 (location only)."""
    bucket(s3, "moe-wandb", {"datasets/x.csv": b"1,2", "datasets/y.csv": b"3,4"})
    for checksum in (True, False):
        art = artreg.Artifact("s3_file_references", "reference-dataset")
        art.add_reference("s3://moe-wandb/datasets", checksum=checksum)
        docs.reg.log_artifact(art, project="that_was_easy")
    docs.run('''
        import wandb
        api = wandb.Api()
        artifact = api.artifact('dummy-team/that_was_easy/s3_file_references:v0')
        artifact.download()
    ''')
    assert (Path("artifacts") / "s3_file_references:v0" / "y.csv").read_bytes() == b"3,4"
    docs.run('''
        import wandb
        import os
        import subprocess

        api = wandb.Api()
        art = api.artifact('dummy-team/that_was_easy/s3_file_references:v1', type='reference-dataset')
        manifest_data = art.manifest.to_manifest_json()

        def download_s3_contents(data):
            base_download_path = 'datasets' # Local directory to store the downloaded files
            # Extract 'ref' paths
            ref_paths = [details["ref"] for details in data["contents"].values()]
            for ref in ref_paths:
                # The ref paths in AWS S3 artifacts are usually of the form s3://bucket-name/path/to/file
                # Ensure that your ref paths are correctly formatted for AWS S3
                # Download the directory recursively using AWS CLI
                command = f"aws s3 cp --recursive {ref} {base_download_path}"
                subprocess.run(command, shell=True, check=True)
    ''')
    # The page defines the function but does not call it (it runs the AWS CLI); what it reads is checked.
    contents = docs.ns["manifest_data"]["contents"]
    assert [details["ref"] for details in contents.values()] == ["s3://moe-wandb/datasets"]
    assert set(docs.ns["manifest_data"]) == {"version", "storagePolicy", "storagePolicyConfig", "contents"}


def test_seed_001_ttl(docs: Docs) -> None:
    """Placeholders: project/entity/artifact-name/artifact-type/my-file -> p/team/weights/model/my-file."""
    docs.file("my-file")
    docs.run('''
        import wandb
        from datetime import timedelta

        run = wandb.init(project="p", entity="team")
        artifact = wandb.Artifact(name="weights", type="model")
        artifact.add_file("my-file")
        artifact.ttl = timedelta(days=30) # Set TTL policy
        run.log_artifact(artifact)
    ''')
    from datetime import timedelta

    assert docs.reg.artifact("p/weights").ttl == timedelta(days=30) and docs.ns["artifact"].ttl == timedelta(days=30)


def test_seed_001_create_a_collection_by_linking(docs: Docs) -> None:
    """Placeholders: <team_entity> team, <project> p, <artifact_name> empty, <artifact_type> model,
    <organization_entity> org, <registry_name> model, <collection_name> Zoo. The artifact has no files."""
    docs.run('''
        import wandb

        # Initialize a run
        run = wandb.init(entity="team", project="p")

        # Create an artifact object
        artifact = wandb.Artifact(name="empty", type="model")

        # Define required registry definitions
        org_entity = "org"
        registry_name = "model"
        collection_name = "Zoo"
        target_path = f"{org_entity}/wandb-registry-{registry_name}/{collection_name}"

        # Link the artifact to a collection
        run.link_artifact(artifact = artifact, target_path = target_path)
        run.finish()
    ''')
    link = docs.reg.artifact("wandb-registry-model/Zoo:latest")
    assert link.file_count == 0 and link.source_version == docs.reg.artifact("p/empty:v0")


def test_seed_001_link_into_an_existing_registry(docs: Docs) -> None:
    """Placeholders: team/org entity names, registry Fine_Tuned (created first), collection Zoo,
    project p, artifact clf, type model, local path model.pt."""
    docs.file("model.pt")
    docs.reg.create_registry("Fine_Tuned")
    docs.run('''
        import wandb

        #Define team and org
        TEAM_ENTITY_NAME = "team"
        ORG_ENTITY_NAME = "org"
        REGISTRY_NAME = "Fine_Tuned"
        COLLECTION_NAME = "Zoo"

        run = wandb.init(entity=TEAM_ENTITY_NAME, project="p")
        artifact = wandb.Artifact(name="clf", type="model")
        artifact.add_file(local_path="model.pt")
        target_path=f"{ORG_ENTITY_NAME}/wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"
        run.link_artifact(artifact = artifact, target_path = target_path)
    ''')
    assert docs.reg.artifact("wandb-registry-Fine_Tuned/Zoo").type == "model"


def test_seed_001_download_from_a_registry(docs: Docs) -> None:
    """Placeholders: org, registry model, collection Zoo, alias prod, index 0. The page passes an undefined
    ``name`` to use_artifact (its variable is ``registered_artifact_name``); ``name`` is filled in like a placeholder."""
    docs.log("clf", type="model").link("wandb-registry-model/Zoo", ["prod"])
    docs.run('''
        import wandb

        ORG_ENTITY_NAME = 'org'
        REGISTRY_NAME = 'model'
        COLLECTION_NAME = 'Zoo'
        ALIAS = 'prod'
        INDEX = '0'

        run = wandb.init() # Optionally use the entity, project arguments to specify where the run should be created
        registered_artifact_name = f"{ORG_ENTITY_NAME}/wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}:{ALIAS}"
        registered_artifact = run.use_artifact(artifact_or_name=name) # marks this artifact as an input to your run
        artifact_dir = registered_artifact.download()
    ''', name="org/wandb-registry-model/Zoo:prod")
    assert (Path(docs.ns["artifact_dir"]) / "data.txt").read_text() == "clf"
    for ref in ('f"{ORG_ENTITY_NAME}/wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}:v{INDEX}"',
                'f"{ORG_ENTITY_NAME}/wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}:{ALIAS}"'):
        assert docs.run(f"found = run.use_artifact({ref})")["found"].source_version == "v0"


# == seed 002: the registry guide =================================================================


def test_seed_002_log_then_link_refers_to_an_undefined_artifact(docs: Docs) -> None:
    """Placeholders: <project_name> p, <artifact> ./model.pt, <artifact_name> clf, <type> model, org, model, Zoo.
    Cannot run as written, in W&B either: it logs ``logged_artifact`` and links ``artifact``, which it never
    defines (NameError). Everything before that line runs; the corrected line runs too."""
    docs.file("model.pt")
    code = '''
        import wandb

        # Start a new W&B run to track your experiment
        run = wandb.init(project="p")

        # log an artifact version
        logged_artifact = run.log_artifact(
            artifact_or_path="./model.pt",
            name="clf",
            type="model"
            )

        # Provide the entity of your organization
        org_entity = "org"

        # The name of the registry you want to link to
        registry_name = "model"

        # The name of the collection you want to link to.
        # If the collection does not exist, W&B creates one for you
        collection_name = "Zoo"

        # The full path of the collection and registry
        path = f"{org_entity}/wandb-registry-{registry_name}/{collection_name}"

        # Link artifact to the collection in the registry
        # specified in target_path
        run.link_artifact(artifact = artifact, target_path = path)

        run.finish()
    '''
    with pytest.raises(NameError, match="'artifact'"):
        docs.run(code)
    assert docs.ns["logged_artifact"].version == "v0"
    docs.run("run.link_artifact(artifact = logged_artifact, target_path = path)\nrun.finish()")
    assert docs.reg.artifact("wandb-registry-model/Zoo").source_version == docs.reg.artifact("p/clf")


def test_seed_002_quickstart_example(docs: Docs) -> None:
    """Placeholder: <organization_entity> org."""
    docs.run('''
        import wandb
        import random

        # Start a new W&B run to track your experiment
        run = wandb.init(project="registry_quickstart")

        # Simulate logging model metrics
        run.log({"acc": random.random()})

        # Create a pseudo model file
        with open("my_model.txt", "w") as f:
           f.write("Model: " + str(random.random()))

        # log an artifact version
        logged_artifact = run.log_artifact(
            artifact_or_path="./my_model.txt",
            name="gemma-finetuned-3twsov9e",
            type="model"
            )

        # Provide the name of your organization
        org_entity = "org"

        # The name of the registry
        registry = "model"

        # The name of the collection
        collection = "quickstart-collection"

        # link the model to the predefined core Models registry
        run.link_artifact(
            artifact=logged_artifact,
            target_path=f"{org_entity}/wandb-registry-{registry}/registry-{collection}"
            )

        run.finish()
    ''')
    link = docs.reg.artifact("wandb-registry-model/registry-quickstart-collection:v0")
    (run,) = link.source_version.logged_by()  # type: ignore[union-attr]
    assert run.state == "finished" and 0 <= run.summary["acc"] <= 1 and len(run.history()) == 1
