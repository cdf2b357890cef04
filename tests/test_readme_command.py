"""The README's first screen and CI agree: ``.ci/run`` runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    """The commands of the README's first ``sh`` block, each without its trailing comment."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "the README's first screen has no sh block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_first_screen_shows_the_two_set_up_commands() -> None:
    commands = _readme_commands()
    assert commands[0] == "pip install . && artreg demo"
    assert len(commands) == 2
    assert commands[1].endswith("pip install -e '.[test]' && pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # What runs after the shell options and the change to the project folder is the command.
    body = [line for line in lines if not line.startswith(("set ", "cd ")) and not line.startswith("#!")]
    assert body == [_readme_commands()[1]]
