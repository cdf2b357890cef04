"""The ``artreg demo`` job: a dataset, a model made from it, aliases, on a real registry."""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

from ._draft import Artifact
from ._registry import Registry

PROJECT = "zoo"


def run_demo(reg: Registry, *, seed: int = 0) -> dict[str, Any]:
    """Log a small zoo dataset and a model trained on it; return what was done."""
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
    with reg.init(PROJECT, job_type="prepare", name="prepare-zoo") as prepare:
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
    with reg.init(PROJECT, job_type="train", name="train-zoo", config={"seed": seed}) as train:
        train.use_artifact(data_version)
        model_version = train.log_artifact(model, aliases=["best", "candidate"])
    return {
        "registry": reg.path,
        "objects": str(reg.objects) if reg.objects else None,
        "dataset": data_version.qualified_name,
        "dataset_aliases": data_version.aliases,
        "model": model_version.qualified_name,
        "model_aliases": model_version.aliases,
        "model_digest": model_version.digest,
        "lineage": model_version.lineage("upstream").to_mermaid(),
    }
