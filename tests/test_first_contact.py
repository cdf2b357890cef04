"""What a newcomer meets on the command line (SPEC §21): typos, JSON errors, help, the demo."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg import cli
from conftest import child_env, make

READ_COMMANDS = [
    ["ls"], ["ls", "zoo"], ["show", "zoo/ds"], ["get", "zoo/ds"], ["verify", "zoo/ds"], ["lineage", "zoo/ds"],
    ["search", "zoo"], ["audit"], ["audit", "--verify"], ["check"], ["check", "--fix"], ["gc"], ["expire"],
    ["registry", "ls"], ["registry", "member", "model"], ["alias", "add", "zoo/ds", "best"], ["tag", "add", "zoo/ds", "t"],
    ["delete", "zoo/ds"], ["unlink", "wandb-registry-model/x"], ["link", "zoo/ds", "wandb-registry-model/x"],
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_error(err: str) -> dict[str, Any]:
    """The one JSON object a failing ``--json`` command writes to stderr."""
    assert err.count("\n") == 1, err
    error: dict[str, Any] = json.loads(err)
    assert sorted(error) == ["error", "exit_code", "message"]
    return error


def walk(parser: argparse.ArgumentParser, prog: str = "artreg") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += walk(child, f"{prog} {name}")
    return found


# -- a typo never makes an empty registry ----------------------------------------------------------


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=" ".join)
def test_commands_that_need_a_registry_do_not_create_one(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    typo = tmp_path / "nonexistent" / "deep" / "dir"
    code, out, err = run(capsys, "--registry", str(typo), *argv)
    assert (code, out) == (3, "")
    assert err.startswith(f"artreg: error: no registry at {str(typo)!r}") and err.count("\n") == 1
    code, out, err = run(capsys, "--json", "--registry", str(typo), *argv)
    assert (code, out) == (3, "")
    assert json_error(err)["error"] == "NotFound" and str(typo) in json_error(err)["message"]
    assert os.listdir(tmp_path) == []


def test_the_default_registry_is_not_created_by_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ls")
    assert code == 3 and str(tmp_path / "home") in err and "put" in err
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("argv", [["put", "data.csv", "-n", "zoo/ds"], ["registry", "create", "zoo"],
                                  ["registry", "protect", "model", "production"], ["registry", "member", "model", "mia", "viewer"]],
                         ids=" ".join)
def test_commands_that_write_create_the_registry_and_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    code, _, err = run(capsys, "--registry", str(tmp_path / "new"), *argv)
    assert code == 0, err
    assert err == f"artreg: created a new registry at {tmp_path / 'new' / 'registry.db'}\n"
    code, _, err = run(capsys, "--registry", str(tmp_path / "new"), "ls")
    assert (code, err) == (0, "")


def test_a_file_that_is_not_a_registry_is_a_schema_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    for path in (str(notes), "/etc/passwd", "/dev/null"):
        for argv in (["ls"], ["put", str(notes)]):
            code, out, err = run(capsys, "--registry", path, *argv)
            assert (code, out) == (10, ""), err
            assert err.startswith(f"artreg: error: {path!r} ") and "File exists" not in err
            code, _, err = run(capsys, "--json", "--registry", path, *argv)
            assert json_error(err) == {"error": "SchemaError", "message": json_error(err)["message"], "exit_code": 10}
    assert notes.read_text() == "hello\n" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_database_named_path_becomes_a_file_not_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    code, _, err = run(capsys, "--registry", str(tmp_path / "team.sqlite3"), "put", str(tmp_path / "data.csv"), "-n", "zoo/ds")
    assert code == 0, err
    assert (tmp_path / "team.sqlite3").is_file()
    code, out, _ = run(capsys, "--json", "--registry", str(tmp_path / "team.sqlite3"), "ls")
    assert [c["name"] for c in json.loads(out)["collections"]] == ["ds"]


# -- errors under --json --------------------------------------------------------------------------


def test_every_error_is_json_on_stderr_under_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    assert run(capsys, "put", str(tmp_path / "data.csv"), "-n", "zoo/ds")[0] == 0
    cases = [
        (["get", "zoo/nope"], "NotFound", 3),
        (["put", str(tmp_path / "data.csv"), "-n", "zoo/bad name"], "InvalidName", 4),
        (["put", str(tmp_path / "data.csv"), "-n", "zoo/ds", "-t", "model"], "TypeMismatch", 5),
        (["--user", "stranger", "registry", "protect", "model", "x"], "PermissionDenied", 7),
        (["delete", "zoo/ds"], "Conflict", 11),
        (["put"], "UsageError", 2),
        (["lineage", "zoo/ds", "--depth", "many"], "UsageError", 2),
        (["no-such-command"], "UsageError", 2),
    ]
    for argv, error, code in cases:
        got, out, err = run(capsys, "--json", *argv)
        assert (got, out) == (code, ""), argv
        assert json_error(err)["error"] == error and json_error(err)["exit_code"] == code, err
    # Without --json a usage error is argparse's usage and one line.
    code, out, err = run(capsys, "put")
    assert code == 2 and err.startswith("usage: artreg put") and err.endswith("error: the following arguments are required: path\n")


def test_a_check_that_finds_problems_prints_its_report_and_a_json_error(reg: artreg.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert reg.objects is not None
    (reg.objects / "ab").mkdir(exist_ok=True)
    (reg.objects / "ab" / ("c" * 62)).write_bytes(b"orphan")
    code, out, err = run(capsys, "--json", "--registry", reg.path, "check")
    assert code == 8 and json.loads(out)["ok"] is False and len(json.loads(out)["orphans"]) == 1
    assert json_error(err) == {"error": "IntegrityError", "message": "check found 1 problem", "exit_code": 8}


# -- what --json says ------------------------------------------------------------------------------


def test_ttl_is_seconds_or_null_with_a_separate_inherited_flag(reg: artreg.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    v = reg.log_artifact(make(a="x"), project="p")

    def ttl() -> tuple[object, object]:
        shown = json.loads(run(capsys, "--json", "--registry", reg.path, "show", "p/ds")[1])["version"]
        return shown["ttl"], shown["ttl_inherited"]

    assert ttl() == (None, True)  # a new version takes its project's default, and there is none
    v.ttl = None
    v.save()
    assert ttl() == (None, False)
    v.ttl = timedelta(days=1)
    v.save()
    assert ttl() == (86400.0, False)
    v.ttl = artreg.INHERIT
    v.save()
    assert ttl() == (None, True)  # the project sets no default: it never expires
    reg.set_default_ttl("p", timedelta(hours=2))
    assert ttl() == (7200.0, True)


def test_verify_json_is_data(reg: artreg.Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = reg.log_artifact(make(**{"a.txt": "alpha", "b.txt": "bravo"}), project="p")
    code, out, _ = run(capsys, "--json", "--registry", reg.path, "verify", "p/ds")
    assert code == 0
    assert json.loads(out) == {"ref": "p/ds:v0", "root": None, "files": 2, "ok": True, "missing": [], "mismatched": [], "extra": []}
    root = Path(v.download(str(tmp_path / "out")))
    (root / "a.txt").write_text("ALPHA")
    (root / "b.txt").unlink()
    (root / "c.txt").write_text("new")
    code, out, err = run(capsys, "--json", "--registry", reg.path, "verify", "p/ds", "--root", str(root))
    assert code == 8 and json_error(err)["error"] == "IntegrityError"
    assert json.loads(out) == {"ref": "p/ds:v0", "root": str(root), "files": 2, "ok": False,
                               "missing": ["b.txt"], "mismatched": ["a.txt"], "extra": ["c.txt"]}
    code, out, _ = run(capsys, "--registry", reg.path, "verify", "p/ds", "--root", str(root))
    assert out.splitlines() == [f"p/ds:v0 does not match {root}", "  missing: b.txt", "  mismatched: a.txt", "  extra: c.txt"]


def test_audit_shows_refs_not_ids(reg: artreg.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    v = reg.log_artifact(make(type="model", a="x"), project="zoo", aliases=["best"])
    v.link("wandb-registry-model/Zoo")
    reg.registry("model").protect_alias("production")
    entries = json.loads(run(capsys, "--json", "--registry", reg.path, "audit")[1])["entries"]
    assert all(not key.endswith("_id") for e in entries for key in e)
    about = [(e["action"], e["registry"], e["collection"], e["version"], e["alias"]) for e in entries]
    assert about == [
        ("version_logged", None, "zoo/ds", "zoo/ds:v0", None),
        ("alias_added", None, "zoo/ds", "zoo/ds:v0", "latest"),
        ("alias_added", None, "zoo/ds", "zoo/ds:v0", "best"),
        ("version_linked", "model", "wandb-registry-model/Zoo", "wandb-registry-model/Zoo:v0", None),
        ("alias_added", "model", "wandb-registry-model/Zoo", "wandb-registry-model/Zoo:v0", "latest"),
        ("ttl_changed", None, "zoo/ds", "zoo/ds:v0", None),  # linking clears the source's TTL
        ("alias_protected", "model", None, None, "production"),
    ]
    lines = run(capsys, "--registry", reg.path, "audit")[1].splitlines()
    assert lines[0].split() == ["#", "AT", "USER", "ACTION", "ABOUT", "ALIAS", "DETAIL"]
    assert lines[1].split()[3:5] == ["version_logged", "zoo/ds:v0"]
    assert lines[7].split()[3:7] == ["alias_protected", "registry", "model", "production"]


def test_audit_entries_carry_refs_in_the_library(reg: artreg.Registry) -> None:
    catalog = reg.create_registry("gone")
    catalog.delete()
    entries = reg.audit.entries()
    assert [(e.action, e.registry) for e in entries] == [("registry_created", "gone"), ("registry_deleted", "gone")]


# -- plain text that reads right -------------------------------------------------------------------


def test_counts_are_pluralised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.csv").write_text("a\n")
    out = run(capsys, "put", str(tmp_path / "one.csv"), "-n", "zoo/one")[1]
    assert "(1 file, 2 B)" in out
    run(capsys, "delete", "zoo/one", "--delete-aliases")
    assert "freed 1 blob (2 B) and 0 orphan files (0 B)" in run(capsys, "gc")[1]
    from artreg._render import plural

    assert [plural(n, "entry", "entries") for n in (0, 1, 2, 1000)] == ["0 entries", "1 entry", "2 entries", "1,000 entries"]


def test_put_of_unchanged_content_says_nothing_new_was_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.csv").write_text("a\n")
    code, out, _ = run(capsys, "--json", "put", str(tmp_path / "one.csv"), "-n", "zoo/one")
    assert code == 0 and json.loads(out)["new"] is True
    code, out, _ = run(capsys, "put", str(tmp_path / "one.csv"), "-n", "zoo/one", "-a", "best")
    assert out.startswith("unchanged, already logged as zoo/one:v0  (1 file, 2 B)\n  aliases: best, latest")
    code, out, _ = run(capsys, "--json", "put", str(tmp_path / "one.csv"), "-n", "zoo/one")
    assert json.loads(out)["new"] is False and json.loads(out)["version"]["ref"] == "zoo/one:v0"
    (tmp_path / "one.csv").write_text("b\n")
    assert run(capsys, "put", str(tmp_path / "one.csv"), "-n", "zoo/one")[1].startswith("logged zoo/one:v1")


def test_delete_names_the_cli_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.csv").write_text("a\n")
    run(capsys, "put", str(tmp_path / "one.csv"), "-n", "zoo/one", "-a", "best")
    code, _, err = run(capsys, "delete", "zoo/one")
    assert code == 11 and code != cli.EXIT_CODES[artreg.PermissionDenied]
    assert err == "artreg: error: zoo/one:v0 holds aliases best, latest; add --delete-aliases to delete it anyway\n"
    assert "delete_aliases=True" not in err
    assert run(capsys, "delete", "zoo/one", "--delete-aliases")[0] == 0


def test_the_typed_reference_and_a_suggestion_reach_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.csv").write_text("a\n")
    run(capsys, "put", str(tmp_path / "one.csv"), "-n", "zoo/zoo_dataset", "-a", "production")
    code, _, err = run(capsys, "get", "zoo:zoo_dataset")
    assert code == 3 and err.startswith("artreg: error: no artifact zoo:zoo_dataset: ")
    assert err.endswith("did you mean 'zoo/zoo_dataset'?\n")
    err = run(capsys, "get", "zoo/zoo_dataset:prod")[2]
    assert "has no alias 'prod'" in err and "no version" not in err
    code, _, err = run(capsys, "registry", "create", "wandb-registry-foo")
    assert code == 4 and "may not start with 'wandb-registry-'" in err


def test_lineage_text_reads_as_runs_with_their_inputs_and_outputs(reg: artreg.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    alone = reg.log_artifact(make("alone", a="x"), project="zoo")
    assert alone.lineage().to_text() == "zoo/alone:v0 (dataset): no run logged or used it\n"
    with reg.init("zoo", job_type="prepare", name="prep") as prep:
        raw = prep.log_artifact(make("raw", a="1"))
    with reg.init("zoo", job_type="train", name="fit") as fit:
        fit.use_artifact(raw)
        fit.use_artifact(alone)
        fit.log_artifact(make("model", type="model", w="1"))
    raw.delete(delete_aliases=True)
    code, out, _ = run(capsys, "--registry", reg.path, "lineage", "zoo/model")
    assert code == 0
    assert out == (
        "run zoo/prep (prepare, finished)\n"
        "    produced  zoo/raw:v0 (dataset) [deleted]\n"
        "run zoo/fit (train, finished)\n"
        "    used      zoo/alone:v0 (dataset)\n"
        "    used      zoo/raw:v0 (dataset) [deleted]\n"
        "    produced  zoo/model:v0 (model)  <- this version\n"
    )


# -- --version and help ----------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out) == (0, f"artreg {artreg.__version__}\n")
    done = subprocess.run([sys.executable, "-m", "artreg", "--version"], env=child_env(), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"artreg {artreg.__version__}\n")


def test_every_command_and_argument_has_help() -> None:
    parsers = walk(cli.build_parser())
    names = [prog for prog, _ in parsers]
    for expected in ("artreg registry create", "artreg registry ls", "artreg registry protect", "artreg registry member"):
        assert expected in names
    for prog, parser in parsers:
        if prog != "artreg":
            assert parser.description, f"{prog} has no description"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{prog} {action.dest} has no help"
        assert parser.format_help()


def test_help_says_what_repeats_and_what_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "put", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "-a ALIAS, --alias ALIAS an alias for the new version (repeat -a for more)" in text
    assert "-t TYPE, --type TYPE artifact type (default: dataset)" in text
    code, out, _ = run(capsys, "registry", "--help")
    assert code == 0 and all(word in out for word in ("create", "ls", "protect", "member"))
    code, out, _ = run(capsys, "registry", "member", "--help")
    assert "the user (omit to list members)" in " ".join(out.split())
