"""Delivering webhook events from the outbox: at least once, with retries and backoff (SPEC §11).

A pending outbox row is first *claimed* in a short write transaction (its
``next_attempt_at`` moves a lease ahead, so another deliverer, in this process or another,
skips it), then POSTed outside any transaction, then its attempt and outcome are written
in a second transaction. A crash at any point leaves the row pending, and it is sent again
once the lease has passed: delivery is at least once, so receivers should use the
``X-Artreg-Delivery`` header (the event's id) to drop duplicates. Only a 2xx answer
delivers; redirects are not followed. Every attempt is recorded, and logged (logger
``artreg``) when it fails.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._access import is_org_admin, role_of
from ._clock import format_time, parse_time
from ._errors import InvalidName
from .storage._pg_sql import override

if TYPE_CHECKING:
    from .storage._db import Database

log = logging.getLogger("artreg")

USER_AGENT = "artreg-webhook/1"
MAX_RESPONSE = 64 * 1024  # bytes of an answer read (and thrown away) before the connection closes
BATCH = 100

CLAIM = """
UPDATE outbox SET next_attempt_at = :lease
WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= :now ORDER BY id LIMIT :batch)
RETURNING id, automation, event, url, secret_env, body, attempts
"""
# On a shared catalog in PostgreSQL several machines deliver: each claims rows no other has locked.
override(CLAIM, CLAIM.replace("LIMIT :batch)", "LIMIT :batch FOR UPDATE SKIP LOCKED)"))
INSERT_ATTEMPT = "INSERT INTO delivery_attempts(outbox_id, at, status, error, seconds) VALUES (?, ?, ?, ?, ?)"
UPDATE_OUTCOME = """
UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, finished_at = ? WHERE id = ? AND state = 'pending'
"""
SELECT_DELIVERIES = """
SELECT id, automation, event, url, payload, body, state, created_at, next_attempt_at, finished_at FROM outbox
WHERE (:name IS NULL OR automation = :name) AND (:state IS NULL OR state = :state) ORDER BY id
"""
override(SELECT_DELIVERIES, SELECT_DELIVERIES.replace("(:name IS NULL", "(CAST(:name AS text) IS NULL").replace(
    "(:state IS NULL", "(CAST(:state AS text) IS NULL"))
SELECT_ATTEMPTS = """
SELECT outbox_id, at, status, error, seconds FROM delivery_attempts
WHERE outbox_id IN (SELECT value FROM json_each(:ids)) ORDER BY id
"""
STATES = ("pending", "delivered", "failed", "cancelled")


@dataclass(frozen=True)
class RetryPolicy:
    """How failed webhook calls are retried.

    ``max_attempts`` in all; after the first failure wait ``backoff`` seconds, then twice
    as long after each further one, at most ``max_backoff``. Each POST gives up after
    ``timeout`` seconds without an answer.
    """

    max_attempts: int = 8
    backoff: float = 2.0
    max_backoff: float = 3600.0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool) or self.max_attempts < 1:
            raise InvalidName(f"max_attempts must be a positive number of attempts, not {self.max_attempts!r}")
        for name in ("backoff", "max_backoff", "timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidName(f"{name} must be a non-negative number of seconds, not {value!r}")
        if self.timeout <= 0:
            raise InvalidName(f"timeout must be a positive number of seconds, not {self.timeout!r}")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        return float(min(self.backoff * 2 ** (attempts - 1), self.max_backoff))

    @property
    def lease(self) -> timedelta:
        """How long a claimed event is left alone: longer than any one attempt can take."""
        return timedelta(seconds=2 * self.timeout + 30)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST: its time, the HTTP status (None when there was no answer), the error, its duration."""

    at: datetime
    status: int | None
    error: str | None
    seconds: float


@dataclass(frozen=True)
class Delivery:
    """One webhook event in the outbox: ``state`` is pending, delivered, failed (gave up) or cancelled."""

    id: int
    automation: str
    event: str
    url: str
    payload: dict[str, Any]
    body: str
    state: str
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    attempts: tuple[DeliveryAttempt, ...]


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver()`` did: how its events ended (delivered, left for a later retry,
    given up on) and how many POSTs it made."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    attempts: int = 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx (urllib would otherwise resend the POST as a GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    """(HTTP status or None, error or None) of one POST."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout) as response:
            response.read(MAX_RESPONSE)
            return int(response.status), None
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return None, f"no answer within {timeout:g} s"
        return None, str(reason) or type(reason).__name__


def deliver(db: Database, now: datetime, policy: RetryPolicy) -> DeliveryReport:
    """POST every event due at ``now``; returns what happened (see the module docstring)."""
    outcomes: dict[int, str] = {}  # event id -> how its last attempt ended
    attempts = 0
    stamp, lease = format_time(now), format_time(now + policy.lease)
    while True:
        with db.write() as con:
            claimed: list[Any] = sorted(con.execute(CLAIM, {"lease": lease, "now": stamp, "batch": BATCH}).fetchall())
        if not claimed:
            ended = list(outcomes.values())
            return DeliveryReport(ended.count("delivered"), ended.count("retrying"), ended.count("failed"), attempts)
        for row in claimed:
            outcomes[row[0]] = _attempt(db, row, now, policy)
            attempts += 1


def _attempt(db: Database, row: tuple[Any, ...], now: datetime, policy: RetryPolicy) -> str:
    """POST one claimed event and record the outcome: ``delivered``, ``retrying`` or ``failed``."""
    outbox_id, automation, event, url, secret_env, body, attempts = row
    number = attempts + 1
    data = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Artreg-Event": event,
        "X-Artreg-Delivery": str(outbox_id),
        "X-Artreg-Attempt": str(number),
    }
    started = time.monotonic()
    secret = None if secret_env is None else os.environ.get(secret_env)
    status: int | None
    error: str | None
    if secret_env is not None and secret is None:
        status, error = None, f"environment variable {secret_env} is not set"
    else:
        if secret is not None:
            headers["X-Artreg-Secret"] = secret
            headers["X-Artreg-Signature"] = "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
        status, error = post(url, data, headers, policy.timeout)
    seconds = time.monotonic() - started
    at = format_time(now)
    finished: str | None = at
    if status is not None and 200 <= status < 300:
        outcome, next_at = "delivered", at
    elif number >= policy.max_attempts:
        outcome, next_at = "failed", at
        log.error("webhook %r: event %d (%s) failed %d times, giving up: %s", automation, outbox_id, event, number, error)
    else:
        retry_at = now + timedelta(seconds=policy.delay(number))
        outcome, next_at, finished = "retrying", format_time(retry_at), None
        log.warning("webhook %r: event %d (%s) attempt %d failed: %s; retrying at %s", automation, outbox_id, event, number, error, next_at)
    with db.write() as con:
        con.execute(INSERT_ATTEMPT, (outbox_id, at, status, error, seconds))
        con.execute(UPDATE_OUTCOME, ("pending" if outcome == "retrying" else outcome, next_at, finished, outbox_id))
    return outcome


def deliveries(db: Database, user: str, name: str | None, state: str | None) -> list[Delivery]:
    """Outbox events, oldest first, with their attempts; events of registries the user cannot see are left out."""
    if state is not None and state not in STATES:
        raise InvalidName(f"delivery state must be one of {', '.join(STATES)}, not {state!r}")
    with db.read() as con:
        rows: list[Any] = con.execute(SELECT_DELIVERIES, {"name": name, "state": state}).fetchall()
        registries: dict[str, int] = {r[0]: r[1] for r in con.execute("SELECT name, id FROM registries")}
        admin = is_org_admin(con, user)
        roles = {n: role_of(con, i, user) for n, i in registries.items()}
        rows = [r for r in rows if admin or _visible(json.loads(r[4]).get("registry"), roles)]
        attempts: dict[int, list[DeliveryAttempt]] = {}
        for outbox_id, at, status, error, seconds in con.execute(SELECT_ATTEMPTS, {"ids": json.dumps([r[0] for r in rows])}):
            attempts.setdefault(outbox_id, []).append(DeliveryAttempt(parse_time(at), status, error, seconds))
    return [
        Delivery(
            i, automation, event, url, json.loads(payload), body, row_state, parse_time(created_at),
            parse_time(next_at) if row_state == "pending" else None, None if finished is None else parse_time(finished),
            tuple(attempts.get(i, ())),
        )
        for i, automation, event, url, payload, body, row_state, created_at, next_at, finished in rows
    ]


def _visible(registry: str | None, roles: dict[str, str | None]) -> bool:
    return registry is None or roles.get(registry) is not None


class Deliverer:
    """A background thread that calls ``run`` every ``interval`` seconds, and when woken."""

    def __init__(self, run: Callable[[], object], interval: float) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise InvalidName(f"interval must be a positive number of seconds, not {interval!r}")
        self._run = run
        self._interval = float(interval)
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="artreg-deliverer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Deliver now rather than at the next interval (called after a commit that queued events)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                self._run()
            except Exception:
                log.exception("background webhook delivery failed; trying again in %g s", self._interval)
            self._wake.wait(self._interval)
            self._wake.clear()

    def stop(self) -> None:
        """Stop after the delivery under way (at most one POST timeout)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
