"""SPEC §16 from the outside: ``artreg copy`` and ``artreg bundle verify`` on the command line,
bundles piped between real processes, two processes importing one bundle at once, and an
import killed with SIGKILL at random moments (all or nothing, never part of a bundle).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import artreg
from artreg import cli
from conftest import child_env, make
from invariants import assert_consistent, rows, snapshot

SEED = int(os.environ.get("ARTREG_TEST_SEED", "7"))
SCALE = float(os.environ.get("ARTREG_TEST_SCALE", "1"))
TIMEOUT = 120  # seconds for any child


def artreg_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "artreg", *args]


def populate(path: Path, versions: int = 3, big: int = 300_000) -> artreg.Registry:
    """A registry with a run, ``versions`` versions (each a small file and a ``big``-byte blob file) and a link."""
    reg = artreg.open(path, inline_limit=1024)
    rng = random.Random(SEED)
    with reg.init("p", job_type="make") as run:
        for i in range(versions):
            run.log_artifact(make("ds", small=f"small {i}".encode(), big=rng.randbytes(big)), aliases=["best"] if i == 0 else None)
    reg.artifact("p/ds:best").link("wandb-registry-dataset/data", aliases=["gold"])
    return reg


def test_copy_through_a_pipe_between_processes(tmp_path: Path) -> None:
    with populate(tmp_path / "src") as src:
        versions = [v.digest for v in src.artifacts("p", "ds")]
    exporter = subprocess.Popen(artreg_cmd("copy", str(tmp_path / "src"), "-"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=child_env())
    assert exporter.stdout is not None
    importer = subprocess.run(artreg_cmd("copy", "-", str(tmp_path / "dst"), "--json"), stdin=exporter.stdout,
                              capture_output=True, text=True, env=child_env(), timeout=TIMEOUT)
    exporter.stdout.close()
    _, err = exporter.communicate(timeout=TIMEOUT)
    assert exporter.returncode == 0, err
    assert importer.returncode == 0, importer.stderr
    assert b"exported 4 versions and links whole" in err  # the exporter's report goes to stderr: stdout is the bundle
    report = json.loads(importer.stdout)
    assert (report["versions_created"], report["links_created"], report["runs_created"]) == (3, 1, 1)
    with artreg.open(tmp_path / "dst") as dst:
        assert [v.digest for v in dst.artifacts("p", "ds")] == versions
        assert dst.artifact("wandb-registry-dataset/data:gold").source_version.digest == versions[-1]  # type: ignore[union-attr]
        assert_consistent(dst)


def test_a_bundle_cut_short_in_a_pipe_is_refused(tmp_path: Path) -> None:
    populate(tmp_path / "src").close()
    bundle = (tmp_path / "all.tar")
    subprocess.run(artreg_cmd("copy", str(tmp_path / "src"), str(bundle)), check=True, env=child_env(), timeout=TIMEOUT,
                   capture_output=True)
    data = bundle.read_bytes()
    importer = subprocess.run(artreg_cmd("copy", "-", str(tmp_path / "dst")), input=data[: len(data) * 2 // 3],
                              capture_output=True, env=child_env(), timeout=TIMEOUT)
    assert importer.returncode == cli.EXIT_CODES[artreg.IntegrityError]
    assert b"truncated" in importer.stderr and b"Traceback" not in importer.stderr
    with artreg.open(tmp_path / "dst") as dst:
        assert rows(dst, "SELECT count(*) FROM versions") == [(0,)]


def test_cli_copy_verify_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    populate(tmp_path / "src").close()
    bundle = str(tmp_path / "b.tar")
    assert cli.main(["copy", str(tmp_path / "src"), bundle, "p/ds:best"]) == 0
    assert "exported 2 versions and links whole" in capsys.readouterr().out
    assert cli.main(["bundle", "verify", bundle, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["versions"], summary["links"], summary["runs"], summary["blobs"]) == (1, 1, 1, 2)
    assert cli.main(["copy", bundle, str(tmp_path / "dst"), "--user", "carol"]) == 0
    out = capsys.readouterr().out
    assert "versions 1 created, 0 reused" in out and "p/ds:v0 -> p/ds:v0  (created)" in out
    with artreg.open(tmp_path / "dst") as dst:
        assert dst.audit.entries(action="bundle_imported")[0].user == "carol"
    assert cli.main(["copy", str(tmp_path / "src"), str(tmp_path / "dst"), "--keep-destination-aliases"]) == 0
    assert "versions 2 created, 1 reused" in capsys.readouterr().out
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(Path(bundle).read_bytes()[:-2000])
    for argv, error in [
        (["bundle", "verify", str(damaged)], artreg.IntegrityError),
        (["copy", bundle, str(tmp_path / "other.tar")], artreg.InvalidName),
        (["copy", bundle, str(tmp_path / "x"), "p/ds"], artreg.InvalidName),
        (["copy", str(tmp_path / "src"), str(tmp_path / "x"), "--basis", bundle], artreg.InvalidName),
        (["copy", str(tmp_path / "missing"), bundle], artreg.NotFound),
        (["copy", str(tmp_path / "missing.tar"), str(tmp_path / "x")], artreg.NotFound),
        (["copy", str(tmp_path / "src"), bundle, "p/nothing"], artreg.NotFound),
        (["copy", str(tmp_path / "src"), "https://example.com/reg"], artreg.InvalidName),
        (["copy", str(tmp_path / "src"), "postgresql://nobody@127.0.0.1:1/reg"], artreg.CatalogUnavailable),
    ]:
        assert cli.main(argv) == cli.EXIT_CODES[error], argv
        err = capsys.readouterr().err
        assert err.startswith("artreg: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "missing").exists()  # a missing source is not created


@pytest.mark.parametrize(("url", "says"), [
    ("s3://bucket/team/registry.tar", "a bucket holds a registry's blobs, not a registry: open the registry with blobs="),
    ("https://example.com/registry", "the only catalog opened by URL is PostgreSQL's"),
])
def test_copy_says_why_it_refuses_a_url(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, says: str) -> None:
    populate(tmp_path / "src").close()
    for argv in (["copy", str(tmp_path / "src"), url], ["copy", url, str(tmp_path / "dst")]):
        assert cli.main(argv) == cli.EXIT_CODES[artreg.InvalidName]
        err = capsys.readouterr().err
        assert err.startswith(f"artreg: error: copy cannot use {url!r}: ") and says in err, err
        assert "registry folders or .db files, postgresql:// catalogs, .tar bundles and -" in err
    assert not (tmp_path / "dst").exists() and [p.name for p in tmp_path.iterdir()] == ["src"]


def test_copy_lists_runs_whose_id_was_taken_at_the_destination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with artreg.open(tmp_path / "src") as src, src.init("p", id="train") as run:
        run.log_artifact(make(w=b"from src"))
    with artreg.open(tmp_path / "dst") as dst, dst.init("p", id="train") as run:
        run.log({"x": 1})
    assert cli.main(["copy", str(tmp_path / "src"), str(tmp_path / "dst")]) == 0
    out = capsys.readouterr().out
    assert "runs 1 created" in out and "  run p/train -> p/" in out and "its id was taken at the destination by another run" in out
    assert cli.main(["copy", str(tmp_path / "src"), str(tmp_path / "dst"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs_renamed"] == []  # found by its origin this time


def test_two_processes_import_one_bundle_at_once(tmp_path: Path) -> None:
    populate(tmp_path / "src", versions=6).close()
    bundle = tmp_path / "all.tar"
    with artreg.open(tmp_path / "src") as src:
        src.export_bundle(bundle)
    with artreg.open(tmp_path / "dst") as dst:
        dst.log_artifact(make("other", o=b"o"), project="p")
    procs = [subprocess.Popen(artreg_cmd("copy", str(bundle), str(tmp_path / "dst"), "--json"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=child_env()) for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert sorted(r["versions_created"] for r in reports) == [0, 6]
    assert sorted(r["versions_reused"] for r in reports) == [0, 6]
    with artreg.open(tmp_path / "dst") as dst:
        assert len(dst.artifacts("p", "ds")) == 6 and len(dst.audit.entries(action="bundle_imported")) == 1
        assert_consistent(dst)


def test_an_import_killed_at_any_moment_leaves_all_or_nothing(tmp_path: Path) -> None:
    populate(tmp_path / "src", versions=8, big=1_000_000).close()
    bundle = tmp_path / "all.tar"
    with artreg.open(tmp_path / "src") as src:
        src.export_bundle(bundle)
    rng = random.Random(SEED)
    # How long an import takes here, so that the kills land before, during and after its commit.
    started = time.monotonic()
    subprocess.run(artreg_cmd("copy", str(bundle), str(tmp_path / "timed")), check=True, env=child_env(), timeout=TIMEOUT,
                   capture_output=True)
    span = time.monotonic() - started
    seen = set()
    for attempt in range(max(1, int(6 * SCALE))):
        target = tmp_path / f"dst{attempt}"
        with artreg.open(target, inline_limit=1024) as dst:
            dst.log_artifact(make("ds", w=b"already here"), project="p")
            before = snapshot(dst)
        proc = subprocess.Popen(artreg_cmd("copy", str(bundle), str(target)), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=child_env())
        time.sleep(rng.uniform(0.2, 1.1) * span)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
        with artreg.open(target, inline_limit=1024) as dst:
            count = len(dst.artifacts("p", "ds"))
            assert count in (1, 9), f"a killed import left {count - 1} of 8 versions"
            seen.add(count)
            dst.gc()  # staged files of a killed import are leftovers gc removes
            assert_consistent(dst)
            if count == 1:
                assert snapshot(dst) == before
            again = dst.import_bundle(bundle)
            assert again.versions_created + again.versions_reused == 8
            assert len(dst.artifacts("p", "ds")) == 9
    print(f"seed {SEED}: an import takes {span:.2f} s; after the kills the registries held {sorted(seen)} versions")


def test_the_readme_air_gap_walkthrough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    populate(tmp_path / "registry").close()
    week1, week2, far = str(tmp_path / "week1.tar"), str(tmp_path / "week2.tar"), str(tmp_path / "srv" / "registry")
    assert cli.main(["copy", str(tmp_path / "registry"), week1]) == 0
    assert cli.main(["bundle", "verify", week1]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ok: ")
    assert cli.main(["copy", week1, far]) == 0
    assert "versions 3 created" in capsys.readouterr().out
    assert cli.main(["copy", week1, far]) == 0
    assert "versions 0 created, 3 reused" in capsys.readouterr().out
    with artreg.open(tmp_path / "registry", inline_limit=1024) as reg:
        reg.log_artifact(make("ds", small=b"week 2", big=os.urandom(300_000)), project="p")
    assert cli.main(["copy", str(tmp_path / "registry"), week2, "--basis", week1, "--json"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert (sent["blobs_sent"], [c["outcome"] for c in sent["copied"]].count("known")) == (2, 3)
    assert cli.main(["copy", week2, far]) == 0
    assert "versions 1 created, 3 reused" in capsys.readouterr().out
    assert Path(week2).stat().st_size < Path(week1).stat().st_size / 2


def test_a_terminal_is_no_place_for_a_bundle(tmp_path: Path) -> None:
    import pty

    populate(tmp_path / "src").close()
    controller, terminal = pty.openpty()
    try:
        for argv, stdin, stdout in [
            (("copy", "-", str(tmp_path / "dst")), terminal, subprocess.PIPE),
            (("copy", str(tmp_path / "src"), "-"), subprocess.DEVNULL, terminal),
        ]:
            done = subprocess.run(artreg_cmd(*argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=child_env(),
                                  timeout=TIMEOUT)
            assert done.returncode == cli.EXIT_CODES[artreg.InvalidName]
            assert b"terminal" in done.stderr
    finally:
        os.close(controller)
        os.close(terminal)
