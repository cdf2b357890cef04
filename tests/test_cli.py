"""The command line: `artreg demo`, errors as one line with a per-class exit code."""

from __future__ import annotations

import json
import os
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


def test_demo_again_logs_nothing_and_adds_no_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--json", "demo"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["dataset_new"] and first["model_new"]
    with artreg.open() as reg:
        audit_head = reg.audit.head()
    assert cli.main(["--json", "demo"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert not second["dataset_new"] and not second["model_new"]
    for key in ("dataset", "model", "model_digest", "lineage", "dataset_aliases", "model_aliases"):
        assert first[key] == second[key], key
    assert first["model"] == "zoo/zoo_classifier:v0"
    assert second["lineage"].count("run zoo/") == 2
    with artreg.open() as reg:
        assert reg.audit.head() == audit_head  # not one change recorded
        model = reg.artifact("zoo/zoo_classifier")
        assert [r.name for r in model.logged_by()] == ["train-zoo"]
        assert [r.name for r in reg.artifact("zoo/zoo_dataset").used_by()] == ["train-zoo"]
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "nothing new was logged" in out
    assert not [line for line in out.splitlines() if line.startswith("logged:")]
    assert "<br/>" not in out and "flowchart" not in out


def test_demo_logs_again_what_was_deleted(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    with artreg.open() as reg:
        reg.artifact("zoo/zoo_classifier").delete(delete_aliases=True)
    capsys.readouterr()
    assert cli.main(["--json", "demo"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert not again["dataset_new"] and again["model_new"] and again["model"] == "zoo/zoo_classifier:v1"


def test_demo_shows_a_readable_lineage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--registry", str(tmp_path / "r"), "demo"]) == 0
    out = capsys.readouterr().out
    lineage = out.split("lineage of zoo/zoo_classifier:v0:\n")[1].split("\n\n")[0]
    assert lineage.splitlines() == [
        "    run zoo/prepare-zoo (prepare, finished)",
        "        produced  zoo/zoo_dataset:v0 (dataset)",
        "    run zoo/train-zoo (train, finished)",
        "        used      zoo/zoo_dataset:v0 (dataset)",
        "        produced  zoo/zoo_classifier:v0 (model)  <- this version",
    ]
    assert f"artreg --registry {tmp_path / 'r' / 'registry.db'} ls" in out


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


def test_hostile_arguments_get_one_line_and_their_exit_code(tmp_path: Path) -> None:
    """SPEC §23: an index past 64 bits printed an OverflowError traceback."""
    env = child_env(ARTREG_HOME=str(tmp_path / "home"))
    (tmp_path / "data.txt").write_text("x")
    assert subprocess.run([sys.executable, "-m", "artreg", "put", str(tmp_path / "data.txt"), "-n", "p/ds"],
                          env=env, capture_output=True, timeout=120).returncode == 0
    for argv, code in ((["show", "p/ds:v99999999999999999999"], 3), (["put", "http://[::1", "-n", "p/web"], 4)):
        done = subprocess.run([sys.executable, "-m", "artreg", *argv], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


# -- the tour, one command at a time --------------------------------------------------------


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()  # drop what earlier commands printed
    assert cli.main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "zoo_data"
    (root / "images").mkdir(parents=True)
    (root / "zoo.csv").write_text("animal,legs\ncat,4\n")
    (root / "images" / "cat.png").write_bytes(os.urandom(70_000))
    (tmp_path / "model.json").write_text('{"w": 1}')
    return root


def test_the_readme_tour(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put = run_json(capsys, "put", str(data), "-n", "zoo/zoo_dataset", "-t", "dataset", "-a", "best", "--tag", "raw",
                   "-d", "101 animals", "--metadata", '{"rows": 1}')
    assert put["version"]["ref"] == "zoo/zoo_dataset:v0" and put["version"]["file_count"] == 2
    assert put["version"]["aliases"] == ["best", "latest"] and put["version"]["metadata"] == {"rows": 1}
    model = run_json(capsys, "put", str(tmp_path / "model.json"), "-n", "zoo/zoo_model", "-t", "model")
    assert model["version"]["type"] == "model"
    link = run_json(capsys, "link", "zoo/zoo_model", "wandb-registry-model/Zoo", "-a", "candidate")
    assert link["version"]["ref"] == "wandb-registry-model/Zoo:v0" and link["version"]["source"] == "zoo/zoo_model:v0"
    alias = run_json(capsys, "alias", "add", "wandb-registry-model/Zoo", "production")
    assert alias["version"]["aliases"] == ["candidate", "latest", "production"]
    got = run_json(capsys, "get", "wandb-registry-model/Zoo:production", "--root", str(tmp_path / "elsewhere"))
    assert (tmp_path / "elsewhere" / "model.json").read_text() == '{"w": 1}' and got["root"] == str(tmp_path / "elsewhere")
    assert cli.main(["lineage", "zoo/zoo_model", "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR\n")
    listing = run_json(capsys, "ls")
    assert [(c["name"], c["latest"], c["versions"]) for c in listing["collections"]] == [("zoo_dataset", "v0", 1), ("zoo_model", "v0", 1)]
    shown = run_json(capsys, "show", "zoo/zoo_dataset:best")
    assert [f["path"] for f in shown["files"]] == ["images/cat.png", "zoo.csv"]
    assert run_json(capsys, "verify", "zoo/zoo_dataset")["ok"] is True
    assert run_json(capsys, "verify", "wandb-registry-model/Zoo", "--root", str(tmp_path / "elsewhere"))["ok"] is True


def test_human_output(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["put", str(data), "-n", "zoo/ds"]) == 0
    assert "logged zoo/ds:v0  (2 files, 68.4 KiB)" in capsys.readouterr().out
    assert cli.main(["ls", "zoo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROJECT", "NAME", "TYPE", "LATEST", "VERSIONS", "SIZE", "UPDATED"]
    assert lines[1].split()[:6] == ["zoo", "ds", "dataset", "v0", "1", "68.4"]
    assert cli.main(["show", "zoo/ds"]) == 0
    assert "aliases:      latest" in capsys.readouterr().out


def test_aliases_tags_delete_unlink(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["put", str(data), "-n", "zoo/ds"])
    cli.main(["tag", "add", "zoo/ds", "gold", "big"])
    assert run_json(capsys, "tag", "rm", "zoo/ds", "big")["version"]["tags"] == ["gold"]
    assert cli.main(["tag", "rm", "zoo/ds", "never"]) == 3
    assert cli.main(["alias", "rm", "zoo/ds", "never"]) == 3
    assert cli.main(["alias", "add", "zoo/ds", "v5"]) == 4  # reserved
    assert cli.main(["delete", "zoo/ds"]) == 11  # holds latest: a Conflict
    run_json(capsys, "link", "zoo/ds", "wandb-registry-dataset/Zoo")
    assert run_json(capsys, "unlink", "wandb-registry-dataset/Zoo")["ref"] == "wandb-registry-dataset/Zoo:v0"
    assert run_json(capsys, "delete", "zoo/ds", "--delete-aliases")["ref"] == "zoo/ds:v0"
    assert cli.main(["get", "zoo/ds"]) == 3


def test_maintenance_commands(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["put", str(data), "-n", "zoo/ds"])
    cli.main(["delete", "zoo/ds", "--delete-aliases"])
    capsys.readouterr()
    assert run_json(capsys, "gc", "--dry-run")["blobs"] == 2
    assert run_json(capsys, "gc")["bytes"] == 70_000 + len("animal,legs\ncat,4\n")
    assert run_json(capsys, "check")["ok"] is True
    assert run_json(capsys, "expire", "--dry-run") == {"expired": [], "dry_run": True}
    audit = run_json(capsys, "audit", "--limit", "0")
    assert [e["action"] for e in audit["entries"]][:2] == ["version_logged", "alias_added"]
    assert run_json(capsys, "audit", "--verify")["verified"] == len(audit["entries"])


def test_check_failure_exits_with_integrity_code(reg: artreg.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert reg.objects is not None
    (reg.objects / "ab").mkdir(exist_ok=True)
    (reg.objects / "ab" / ("c" * 62)).write_bytes(b"orphan")
    assert cli.main(["--registry", reg.path, "check"]) == 8
    assert "orphans:" in capsys.readouterr().out
    assert cli.main(["--registry", reg.path, "check", "--fix"]) == 0


def test_registry_commands(capsys: pytest.CaptureFixture[str]) -> None:
    created = run_json(capsys, "registry", "create", "zoo", "--type", "model", "--visibility", "restricted")
    assert created["registries"][0]["artifact_types"] == ["model"]
    run_json(capsys, "registry", "protect", "zoo", "production")
    member = run_json(capsys, "registry", "member", "zoo", "mia", "viewer")
    assert member["registries"][0]["members"] == {"mia": "viewer", "tester": "admin"}
    assert run_json(capsys, "registry", "member", "zoo", "mia", "--remove")["registries"][0]["members"] == {"tester": "admin"}
    assert cli.main(["registry", "member", "zoo", "bob"]) == 4
    names = [r["name"] for r in run_json(capsys, "registry", "ls")["registries"]]
    assert names == ["dataset", "model", "zoo"]
    assert cli.main(["--user", "stranger", "registry", "protect", "zoo", "x"]) == 7


def test_bad_metadata_and_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["put", str(tmp_path), "-n", "zoo/x", "--metadata", "{not json"]) == 4
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["put", str(tmp_path / "missing"), "-n", "zoo/x"]) == 3
    assert cli.main(["put", str(tmp_path), "-n", "zoo/bad name"]) == 4


def test_options_go_before_or_after_the_command(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["put", str(data), "-n", "zoo/ds", "--registry", str(tmp_path / "r2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"]["ref"] == "zoo/ds:v0"
    with artreg.open(tmp_path / "r2") as reg:
        assert reg.artifact("zoo/ds").file_count == 2


def test_progress_line_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from artreg._render import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    line = ProgressLine("logging", quiet)
    line(artreg.Progress(1, 2, 10, 20))
    line.close()
    assert quiet.getvalue() == ""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    screen = Terminal()
    line = ProgressLine("logging", screen)
    line(artreg.Progress(2, 2, 2048, 2048))
    assert "logging 2/2 files  2.0 KiB/2.0 KiB" in screen.getvalue()
    line.close()
    assert screen.getvalue().endswith("\r")


def test_search_finds_the_model_by_alias_tag_and_description(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.json").write_text("{}")
    cli.main(["put", str(tmp_path / "model.json"), "-n", "zoo/zoo_model", "-t", "model", "--tag", "baseline",
              "-d", "counts-based mammal classifier"])
    cli.main(["link", "zoo/zoo_model", "wandb-registry-model/Zoo", "-a", "production"])
    for text, field in (("production", "alias"), ("baseline", "tag"), ("mammal", "description")):
        hits = run_json(capsys, "search", text)["hits"]
        assert any(h["field"] == field and h["ref"].startswith(("zoo/zoo_model", "wandb-registry-model/Zoo")) for h in hits), text
    assert cli.main(["search", "nothing-like-this"]) == 0
    assert "no matches" in capsys.readouterr().out
    assert cli.main(["search", '"unbalanced']) == 4


def test_naive_datetimes_are_utc(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from artreg._clock import format_time

    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))


def test_versions_show_pages_and_unknown_projects(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for content in ("1", "2", "3"):
        (data / "zoo.csv").write_text(content)
        cli.main(["put", str(data), "-n", "zoo/ds"])
    capsys.readouterr()
    listed = run_json(capsys, "versions", "zoo/ds", "--limit", "2", "--offset", "1")
    assert [v["version"] for v in listed["versions"]] == ["v1", "v0"] and listed["collection"]["versions"] == 3
    assert cli.main(["versions", "zoo/ds"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["VERSION", "ALIASES", "TAGS"]
    shown = run_json(capsys, "show", "zoo/ds", "--path", "images", "--limit", "5")
    assert [f["path"] for f in shown["files"]] == ["images/cat.png"] and shown["files_total"] == 1
    assert [c["after"] for c in shown["alias_history"]["latest"]] == ["v0", "v1", "v2"]
    assert [e["action"] for e in shown["audit"]][:1] == ["version_logged"]
    assert cli.main(["show", "zoo/ds", "--limit", "1"]) == 0
    assert "(1 of 2 files; --offset and --limit page through them)" in capsys.readouterr().out
    assert cli.main(["ls", "nothing"]) == 3
    assert cli.main(["show", "zoo/ds", "--path", "../up"]) == 4
