"""SPEC §15: ``install()`` lets code that does a plain ``import wandb`` log into artreg.

Lightning and Transformers (with torch) are too heavy for the test extra, so the child
processes below make exactly the calls their W&B integrations make, in their order, copied
from their source: ``lightning.pytorch.loggers.wandb.WandbLogger`` (lightning 2.6.6:
``experiment``, ``log_hyperparams``, ``log_metrics``, ``_scan_and_log_checkpoints``,
``download_artifact``) and ``transformers.integrations.WandbCallback`` (transformers 5.24:
``is_wandb_available``, ``setup``, ``on_log``, ``on_save``, ``on_train_end``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import artreg
from conftest import child_env

PRELUDE = """
import sys
import artreg.wandb
artreg.wandb.install()
artreg.wandb.use_registry(sys.argv[1])
"""


def run_child(code: str, path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = PRELUDE + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, str(path)], env=child_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_plain_import_wandb_gets_artreg(tmp_path: Path) -> None:
    child = run_child(
        """
        import importlib.metadata, importlib.util
        import wandb
        from wandb.errors import CommError
        from wandb.sdk.lib import RunDisabled
        from wandb.wandb_run import Run
        from wandb.sdk.lib.config_util import ConfigError
        from wandb.apis.public import Api
        from wandb.sdk.artifacts.artifact_ttl import ArtifactTTL
        import wandb.apis.public.api
        assert wandb is artreg.wandb and wandb.Artifact is artreg.wandb.Artifact
        assert importlib.util.find_spec("wandb") is not None and hasattr(wandb, "run")
        assert importlib.metadata.version("wandb") == wandb.__version__
        assert issubclass(CommError, artreg.ArtregError)
        run = wandb.init(project="p", config={"lr": 0.1})
        assert isinstance(run, Run) and wandb.run is run and wandb.config["lr"] == 0.1
        wandb.log({"loss": 1.5})
        print(run.id)
        """,
        tmp_path / "reg",
        tmp_path,
    )
    assert child.returncode == 0, child.stderr
    with artreg.open(tmp_path / "reg") as reg:
        (row,) = reg._db.connection().execute("SELECT id, run_key, state FROM runs").fetchall()
        assert row[1:] == (child.stdout.strip(), "finished")  # never finished by the script: finished at exit
        assert artreg.Run(reg, row[0]).history() == [{"loss": 1.5, "_step": 0}]


LIGHTNING = """
import os
from pathlib import Path

import wandb
from wandb.sdk.lib import RunDisabled
from wandb.wandb_run import Run

# WandbLogger(project=..., log_model="all"): its __init__ keeps these init arguments.
wandb_init = {"name": None, "project": "lightning_logs", "dir": ".", "id": None, "resume": "allow", "anonymous": None}

# WandbLogger.experiment
if wandb.run is not None:
    experiment = wandb.run
else:
    experiment = wandb.init(**wandb_init)
    if isinstance(experiment, (Run, RunDisabled)) and getattr(experiment, "define_metric", None):
        experiment.define_metric("trainer/global_step")
        experiment.define_metric("*", step_metric="trainer/global_step", step_sync=True)

# WandbLogger.log_hyperparams / log_metrics
experiment.config.update({"lr": 0.01, "batch_size": 32, "optimizer": "Adam"}, allow_val_change=True)
for step in range(3):
    experiment.log(dict({"train_loss": 1.0 / (step + 1)}, **{"trainer/global_step": step}))

# ModelCheckpoint writes files; WandbLogger._scan_and_log_checkpoints logs each (log_model="all")
checkpoint_name = None
best = None
for epoch in range(3):
    p = os.path.abspath(f"checkpoints/epoch={epoch}.ckpt")
    Path(p).parent.mkdir(exist_ok=True)
    Path(p).write_bytes(bytes([epoch]) * 100)
    s = 1.0 / (epoch + 1)
    best = p
    metadata = {
        "score": s,
        "original_filename": Path(p).name,
        "ModelCheckpoint": {"monitor": "val_loss", "mode": "min", "save_last": None, "save_top_k": -1,
                            "save_weights_only": False, "_every_n_train_steps": 0},
    }
    if not checkpoint_name:
        checkpoint_name = f"model-{experiment.id}"
    artifact = wandb.Artifact(name=checkpoint_name, type="model", metadata=metadata)
    artifact.add_file(p, name="model.ckpt", policy="mutable")
    aliases = ["latest", "best"] if p == best else ["latest"]
    experiment.log_artifact(artifact, aliases=aliases)

# WandbLogger.download_artifact(f"model-{id}:best", artifact_type="model")
artifact = wandb.run.use_artifact(f"{checkpoint_name}:best")
print(artifact.download(root=None), experiment.id)
"""


def test_lightning_wandb_logger_calls_log_checkpoints(tmp_path: Path) -> None:
    child = run_child(LIGHTNING, tmp_path / "reg", tmp_path)
    assert child.returncode == 0, child.stderr
    root, run_id = child.stdout.split()
    assert (Path(root) / "model.ckpt").read_bytes() == bytes([2]) * 100
    with artreg.open(tmp_path / "reg") as reg:
        versions = reg.artifacts("lightning_logs", f"model-{run_id}")
        assert [v.version for v in versions] == ["v2", "v1", "v0"]
        assert versions[0].aliases == ["best", "latest"] and versions[0].metadata["original_filename"] == "epoch=2.ckpt"
        (run,) = versions[0].logged_by()
        assert (run.state, run.config["optimizer"], run.summary["trainer/global_step"]) == ("finished", "Adam", 2)
        assert [row["_step"] for row in run.history()] == [0, 1, 2]
        assert versions[0].used_by() == [run]


TRANSFORMERS = """
import importlib.util
import numbers
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

# is_wandb_available()
assert importlib.util.find_spec("wandb") is not None
import wandb
assert hasattr(wandb, "run")

# WandbCallback.__init__ / setup(args, state, model)
_wandb = wandb
from wandb.sdk.lib.config_util import ConfigError as WandbConfigError
args = SimpleNamespace(run_name=None, output_dir=os.path.abspath("out"), to_dict=lambda: {"learning_rate": 5e-5, "num_train_epochs": 2})
state = SimpleNamespace(is_world_process_zero=True, trial_name=None, logging_steps=10, global_step=0, epoch=0.0)
combined_dict = {**args.to_dict()}
init_args = {}
if _wandb.run is None:
    _wandb.init(project=os.getenv("WANDB_PROJECT", "huggingface"), **init_args)
_wandb.config.update(combined_dict or {}, allow_val_change=True)
if getattr(_wandb, "define_metric", None):
    _wandb.define_metric("train/global_step")
    _wandb.define_metric("*", step_metric="train/global_step", step_sync=True)
_wandb.run._label(code="transformers_trainer")
try:
    _wandb.config["model/num_parameters"] = 1234
except (AttributeError, WandbConfigError):
    pass

single_value_scalars = ["train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"]
for step in (5, 10):
    state.global_step, state.epoch = step, step / 10
    # on_log(args, state, control, logs=...)
    logs = {"loss": 1.0 / step, "learning_rate": 5e-5, "epoch": state.epoch}
    for k, v in logs.items():
        if k in single_value_scalars:
            _wandb.run.summary[k] = v
    non_scalar_logs = {("train/" + k): v for k, v in logs.items() if k not in single_value_scalars}
    _wandb.log({**non_scalar_logs, "train/global_step": state.global_step})
    # Trainer saves a checkpoint folder; on_save(args, state, control) with WANDB_LOG_MODEL=checkpoint
    ckpt_dir = f"checkpoint-{state.global_step}"
    artifact_path = os.path.join(args.output_dir, ckpt_dir)
    os.makedirs(artifact_path)
    Path(artifact_path, "model.safetensors").write_bytes(bytes([step]) * 2000)
    Path(artifact_path, "config.json").write_text('{"step": %d}' % step)
    checkpoint_metadata = {
        k: v for k, v in dict(_wandb.summary).items() if isinstance(v, numbers.Number) and not k.startswith("_")
    }
    checkpoint_metadata["model/num_parameters"] = _wandb.config.get("model/num_parameters")
    checkpoint_name = (
        f"model-{_wandb.run.id}"
        if (args.run_name is None or args.run_name == args.output_dir)
        else f"model-{_wandb.run.name}"
    )
    artifact = _wandb.Artifact(name=checkpoint_name, type="model", metadata=checkpoint_metadata)
    artifact.add_dir(artifact_path)
    _wandb.log_artifact(artifact, aliases=[f"epoch_{round(state.epoch, 2)}", f"checkpoint_global_step_{state.global_step}"])

# on_train_end with WANDB_LOG_MODEL=end: the final model through new_file
_wandb.run.summary["train_loss"] = 0.1
with tempfile.TemporaryDirectory() as temp_dir:
    Path(temp_dir, "model.safetensors").write_bytes(b"final")
    metadata = {k: v for k, v in dict(_wandb.summary).items() if isinstance(v, numbers.Number) and not k.startswith("_")}
    metadata["final_model"] = True
    model_name = f"model-{_wandb.run.id}"
    artifact = _wandb.Artifact(name=model_name, type="model", metadata=metadata)
    for f in Path(temp_dir).glob("*"):
        if f.is_file():
            with artifact.new_file(f.name, mode="wb") as fa:
                fa.write(f.read_bytes())
    _wandb.run.log_artifact(artifact, aliases=["final_model"])
print(_wandb.run.id)
"""


def test_transformers_wandb_callback_calls_log_checkpoints(tmp_path: Path) -> None:
    child = run_child(TRANSFORMERS, tmp_path / "reg", tmp_path)
    assert child.returncode == 0, child.stderr
    run_id = child.stdout.strip()
    with artreg.open(tmp_path / "reg") as reg:
        final, second, first = reg.artifacts("huggingface", f"model-{run_id}")
        assert first.aliases == ["checkpoint_global_step_5", "epoch_0.5"]
        assert second.aliases == ["checkpoint_global_step_10", "epoch_1.0"]
        assert final.aliases == ["final_model", "latest"] and final.metadata["final_model"] is True
        assert sorted(e.path for e in second.files()) == ["config.json", "model.safetensors"]
        assert second.metadata == {"model/num_parameters": 1234, "train/epoch": 1.0, "train/global_step": 10,
                                   "train/learning_rate": 5e-5, "train/loss": 0.1}
        (run,) = final.logged_by()
        assert run.state == "finished" and run.config["num_train_epochs"] == 2 and run.summary["train_loss"] == 0.1
