"""Run rows below the ``Run`` handle: a run's key, and the lineage edges a log or an import writes.

Logging (``_log_artifact``, ``_distributed``) and importing (``_import``) record what a run
produced or used with these statements, so they need not know the ``Run`` handle.
"""

from __future__ import annotations

import secrets
import string

import apsw

SELECT_BY_KEY = "SELECT r.id, r.state FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE p.name = ? AND r.run_key = ?"
INSERT_OUTPUT = "INSERT INTO run_outputs(run_id, version_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
INSERT_INPUT = "INSERT INTO run_inputs(run_id, version_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_run_key(con: apsw.Connection, project: str) -> str:
    """A random W&B-style run id (8 lower-case letters and digits) not taken in ``project``."""
    while True:
        key = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
        if con.execute(SELECT_BY_KEY, (project, key)).fetchone() is None:
            return key


__all__ = ["INSERT_INPUT", "INSERT_OUTPUT", "SELECT_BY_KEY", "new_run_key"]
