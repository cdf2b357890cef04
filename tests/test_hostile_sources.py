"""SPEC §23 (issue 13, items 2 and 11): sources that misbehave cannot make artreg hang or fill a disk.

A referenced URL that now streams more than it did when it was added is cut off at the
first extra byte; one that drips is abandoned at ``$ARTREG_REFERENCE_DEADLINE``. The server
is a real one (``hostile_server.py``) in its own process, stopped by its process id. A FIFO,
a device or a ``/proc`` file where a regular file is expected is refused, never read: these
run in a child process, so a hang fails the test instead of stopping the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import artreg
from conftest import Hostile, child_env

MiB = 1 << 20


def logged_reference(reg: artreg.Registry, hostile: Hostile, path: str) -> artreg.ArtifactVersion:
    art = artreg.Artifact("web", type="dataset")
    art.add_reference(hostile.url(path), name="data.bin")
    assert hostile.sent() == (path, 10)  # honest when the reference was added
    version = reg.log_artifact(art, project="p")
    assert version.size == 10
    return version


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*")) if root.exists() else []


def test_a_reference_that_streams_endlessly_is_cut_off_at_one_byte_past_its_size(
    reg: artreg.Registry, hostile: Hostile, tmp_path: Path
) -> None:
    version = logged_reference(reg, hostile, "/endless")
    with pytest.raises(artreg.IntegrityError, match="more than the 10 bytes recorded") as info:
        version.download(tmp_path / "x")
    assert info.value.mismatched == ["data.bin"]
    path, sent = hostile.sent()
    # Only what the sockets' buffers took before artreg hung up; without the limit, all 512 MiB.
    assert path == "/endless" and sent < 64 * MiB, sent
    assert leftovers(tmp_path / "x") == []  # neither the file nor its temporary
    with pytest.raises(artreg.IntegrityError, match="more than the 10 bytes recorded"):
        version.open("data.bin").read()
    assert hostile.sent()[1] < 64 * MiB


def test_a_reference_that_drips_is_abandoned_at_the_deadline(
    reg: artreg.Registry, hostile: Hostile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte comes well within the no-progress timeout; only a total deadline stops it."""
    version = logged_reference(reg, hostile, "/drip")
    monkeypatch.setenv("ARTREG_REFERENCE_DEADLINE", "1")
    with pytest.raises(artreg.ArtregError, match="longer than 1 s .*ARTREG_REFERENCE_DEADLINE"):
        version.download(tmp_path / "x")
    assert hostile.sent()[1] < 10  # it hung up before the source was done
    assert leftovers(tmp_path / "x") == []
    monkeypatch.setenv("ARTREG_REFERENCE_DEADLINE", "30")
    root = version.download(tmp_path / "y")  # a patient deadline gets the same bytes
    assert (Path(root) / "data.bin").read_bytes() == b"0123456789"


def test_adding_a_reference_whose_body_must_be_hashed_has_the_same_deadline(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTREG_REFERENCE_DEADLINE", "1")
    art = artreg.Artifact("web", type="dataset")
    with pytest.raises(artreg.ArtregError, match="ARTREG_REFERENCE_DEADLINE"):
        art.add_reference(hostile.url("/drip-unsized"))
    assert art.entries == {}
    assert hostile.sent()[1] < 40


@pytest.mark.parametrize("value", ["soon", "0", "-3", "inf", "nan"])
def test_a_bad_deadline_setting_is_invalid_name(hostile: Hostile, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ARTREG_REFERENCE_DEADLINE", value)
    with pytest.raises(artreg.InvalidName, match="ARTREG_REFERENCE_DEADLINE"):
        artreg.Artifact("web", type="dataset").add_reference(hostile.url("/endless"))


# -- not a regular file ---------------------------------------------------------------------

# Runs in a child: ``argv[1]`` is the scenario, ``argv[2]`` a scratch folder. Prints the
# class of the error raised (or "logged"/"downloaded") as JSON.
CHILD = r"""
import json, os, sys
import artreg

scenario, scratch = sys.argv[1], sys.argv[2]
reg = artreg.open(os.path.join(scratch, "reg"), inline_limit=1024)
source = os.path.join(scratch, "src")
os.makedirs(source)
path = os.path.join(source, "x.bin")
with open(path, "wb") as f:
    f.write(b"x" * 2000)

def swap_for_fifo():
    os.unlink(path)
    os.mkfifo(path)

try:
    art = artreg.Artifact("ds", type="dataset")
    if scenario == "add_file":
        art.add_file(path)
        swap_for_fifo()
        reg.log_artifact(art, project="p")
    elif scenario == "add_dir":
        art.add_dir(source)
        swap_for_fifo()
        reg.log_artifact(art, project="p")
    elif scenario == "reference":
        art.add_reference("file://" + path)
        version = reg.log_artifact(art, project="p")
        swap_for_fifo()
        version.download(os.path.join(scratch, "out"))
    elif scenario == "proc":
        art.add_reference("file:///proc/version")
        reg.log_artifact(art, project="p")
    print(json.dumps({"outcome": "done"}))
except Exception as exc:
    print(json.dumps({"outcome": type(exc).__name__, "message": str(exc),
                      "collections": [c.name for c in reg.collections()]}))
"""


@pytest.mark.parametrize("scenario", ["add_file", "add_dir", "reference", "proc"])
def test_a_non_regular_file_where_a_file_is_expected_is_refused_not_read(tmp_path: Path, scenario: str) -> None:
    """A FIFO that replaced an added file (or a referenced one), and /proc/version, whose
    size says 0 while it reads 100-odd bytes: refused with InvalidName, nothing logged."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, scenario, str(tmp_path)], env=child_env(), capture_output=True, text=True, timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario}: artreg hung reading a file that is not a regular file")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "InvalidName", result
    assert "not a regular file" in result["message"]
    if scenario != "reference":
        assert result["collections"] == []  # nothing logged
    assert not (tmp_path / "out" / "x.bin").exists()
