"""A registry worth looking at, and ``artreg ui`` started on it in a child process.

Shared by the HTTP tests (``test_ui.py``) and the browser tests (``test_browser.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import artreg
from conftest import child_env, make, readline

HOSTILE = "<script>alert('x')</script>"
BIG_FILES = 1_200  # more than one page (500) of a version's files


def build(path: Path) -> None:
    """Projects, runs, registries with roles, a big version, and hostile strings everywhere they fit."""
    with artreg.open(path, user="admin", inline_limit=64) as reg:
        with reg.init("zoo", job_type="prepare", name=f"prep {HOSTILE}") as run:
            first = make("zoo_dataset", **{"zoo.csv": "a,b\n1,2\n", "images__cat.png": b"\x89PNG cat", "images__dog.png": b"dog"})
            first.description = f"animals {HOSTILE}"
            first.metadata = {"rows": 1, HOSTILE: HOSTILE, "config": {"lr": 0.1}}
            data = run.log_artifact(first, aliases=["best"], tags=["raw"])
        second = data.new_draft()
        with second.new_file("zoo.csv", overwrite=True) as f:
            f.write("a,b\n1,2\n3,4\n")
        second.metadata = {"rows": 2, "config": {"lr": 0.2}}
        with reg.init("zoo", job_type="clean") as run:
            run.use_artifact(data)
            run.log_artifact(second, tags=["clean"])
        with reg.init("zoo", job_type="train", name="train-zoo") as run:
            run.use_artifact("zoo/zoo_dataset:v1")
            model = run.log_artifact(make("zoo_model", "model", **{"model.json": '{"w": 1}'}), aliases=["candidate"])
        big = artreg.Artifact("big", type="dataset")
        for i in range(BIG_FILES):
            with big.new_file(f"part{i // 400}/file{i:05d}.txt") as f:
                f.write(str(i))
        reg.log_artifact(big, project="zoo")
        model.link("wandb-registry-model/Zoo", aliases=["production"])
        vault = reg.create_registry("vault", description=f"vault {HOSTILE}", visibility="restricted")
        vault.add_member("eve", "restricted_viewer")
        model.link("wandb-registry-vault/Kept", aliases=["staging"])
        reg.create_registry("secret", description="nobody but admins", visibility="restricted")
        model.link("wandb-registry-secret/Hidden")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    user: str
    path: Path

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of one request; error statuses are returned, not raised."""
        request = urllib.request.Request(self.url.rstrip("/") + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()


@contextmanager
def serving(path: Path, user: str) -> Iterator[Server]:
    """``artreg ui --port 0`` as ``user`` in a child process; stopped by its pid (SIGTERM) at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "artreg", "--registry", str(path), "--user", user, "ui", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )
    try:
        line = readline(proc, time.monotonic() + 30)
        assert "read-only" in line and "http://127.0.0.1:" in line, line
        url = line[line.index("http://"):].split()[0]
        yield Server(url, proc, user, path)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
