"""The ``artreg demo`` job: a dataset, a model made from it, aliases, on a real registry.

Running it again logs nothing new: each step first looks for its own earlier result (the
same content, logged by the demo's run of the same name, from the same input), so the
lineage does not fill up with duplicate runs.
"""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

from ._draft import Artifact
from ._errors import NotFound
from ._registry import Registry
from ._versions import ArtifactVersion
from .storage._manifest import version_digest

PROJECT = "zoo"
PREPARE = "prepare-zoo"
TRAIN = "train-zoo"


def run_demo(reg: Registry, *, seed: int = 0) -> dict[str, Any]:
    """Log a small zoo dataset and a model trained on it (unless already there); return what was done."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(101):
        legs, hair = rng.choice([0, 2, 4, 6]), rng.random() < 0.5
        rows.append({"animal": f"animal{i}", "legs": legs, "hair": int(hair), "mammal": int(hair and legs == 4)})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)

    dataset = Artifact("zoo_dataset", type="dataset", description="101 animals with a few features", metadata={"rows": len(rows)})
    with dataset.new_file("zoo.csv") as f:
        f.write(buffer.getvalue())
    data_version = _earlier(reg, dataset, PREPARE, uses=None)
    new_data = data_version is None
    if data_version is None:
        with reg.init(PROJECT, job_type="prepare", name=PREPARE) as prepare:
            data_version = prepare.log_artifact(dataset, aliases=["demo"])

    # A "model": per-feature weights fitted by counting, enough to show a second artifact.
    mammals = [r for r in rows if r["mammal"]]
    weights = {"legs": sum(r["legs"] for r in mammals) / max(len(mammals), 1), "hair": len(mammals) / len(rows)}
    model = Artifact(
        "zoo_classifier",
        type="model",
        description="counts-based mammal classifier",
        metadata={"trained_on": data_version.qualified_name, "weights": weights},
    )
    with model.new_file("model.json") as f:
        f.write(json.dumps(weights, indent=2))
    model_version = _earlier(reg, model, TRAIN, uses=data_version)
    new_model = model_version is None
    if model_version is None:
        with reg.init(PROJECT, job_type="train", name=TRAIN, config={"seed": seed}) as train:
            train.use_artifact(data_version)
            model_version = train.log_artifact(model, aliases=["best", "candidate"])
    return {
        "registry": reg.path,
        "objects": str(reg.objects) if reg.objects else None,
        "dataset": data_version.qualified_name,
        "dataset_aliases": data_version.aliases,
        "dataset_new": new_data,
        "model": model_version.qualified_name,
        "model_aliases": model_version.aliases,
        "model_digest": model_version.digest,
        "model_new": new_model,
        "lineage": model_version.lineage("upstream").to_text(),
    }


def _earlier(reg: Registry, draft: Artifact, run_name: str, *, uses: ArtifactVersion | None) -> ArtifactVersion | None:
    """The live version of ``draft``'s content that the demo's run ``run_name`` logged (from ``uses``), if any."""
    digest = version_digest((path, entry.digest) for path, entry in draft.entries.items())
    try:
        versions = reg.artifacts(PROJECT, draft.name)
    except NotFound:
        return None
    for version in versions:
        if version.digest != digest:
            continue
        for run in version.logged_by():
            if run.name == run_name and run.project == PROJECT and (uses is None or uses in run.used_artifacts()):
                return version
    return None
