"""The command line: `artreg demo`, errors as one line with a per-class exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import artreg
from artreg import cli
from conftest import child_env


def test_demo_logs_a_dataset_and_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "home" / "registry.db") in out
    with artreg.open() as reg:
        model = reg.artifact("zoo/zoo_classifier:best")
        assert model.type == "model"
        assert model.metadata["trained_on"] == "zoo/zoo_dataset:v0"
        with reg.artifact("zoo/zoo_dataset:demo").open("zoo.csv") as f:
            assert f.readline() == b"animal,legs,hair,mammal\n"


def test_demo_again_dedups(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--json", "demo"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert cli.main(["--json", "demo"]) == 0
    second = json.loads(capsys.readouterr().out)
    first_lineage, second_lineage = first.pop("lineage"), second.pop("lineage")
    assert first == second
    assert first["model"] == "zoo/zoo_classifier:v0"
    # Identical content is not a new version, but the second runs are kept as producers.
    assert first_lineage.count("([") == 2 and second_lineage.count("([") == 4


def test_registry_and_user_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--registry", str(tmp_path / "r.db"), "--user", "bob", "demo"]) == 0
    with artreg.open(tmp_path / "r.db") as reg:
        assert reg.artifact("zoo/zoo_classifier").created_by == "bob"


def test_errors_are_one_line_with_the_class_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "foreign.db").write_bytes(b"not a database at all" * 50)
    assert cli.main(["--registry", str(tmp_path / "foreign.db"), "demo"]) == 10
    err = capsys.readouterr().err
    assert err.startswith("artreg: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_every_error_class_has_its_own_exit_code() -> None:
    codes = {cls: cli.exit_code(cls("x")) for cls in cli.EXIT_CODES}
    assert len(set(codes.values())) == len(codes)
    assert codes[artreg.ArtregError] == 1
    assert all(code not in (0, 2) for code in codes.values())


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "foreign.db").write_bytes(b"not a database at all" * 50)
    with pytest.raises(artreg.SchemaError):
        cli.main(["--debug", "--registry", str(tmp_path / "foreign.db"), "demo"])


def test_installed_console_script_and_module_run(tmp_path: Path) -> None:
    env = child_env(ARTREG_HOME=str(tmp_path / "sub"))
    script = Path(sys.executable).parent / "artreg"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "artreg"]
    done = subprocess.run([*command, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "zoo/zoo_classifier:v0" in done.stdout
    done = subprocess.run([sys.executable, "-m", "artreg", "--json", "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout)["registry"] == str(tmp_path / "sub" / "registry.db")
