"""SPEC §11: automations, webhooks through a transactional outbox, callbacks, delivery and retries.

Webhooks are delivered to a ``http.server`` the test starts on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import artreg
from artreg._clock import format_time
from artreg._webhooks import CLAIM
from conftest import CATALOGS, Clock, child_env, made_by, make, serve

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Hooks:
    """The receiving end: every POST, and the statuses to answer per path (the last one repeats)."""

    base: str
    requests: list[Request] = field(default_factory=list)
    replies: dict[str, list[int]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    state = Hooks("")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append(Request(self.path, dict(self.headers), body))
                replies = state.replies.get(self.path, [200])
                status = replies.pop(0) if len(replies) > 1 else replies[0]
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve(Handler) as base:
        state.base = base
        yield state


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(params=CATALOGS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The organisation's registry, made by "boss", on each catalog."""
    return made_by(request, tmp_path, "org", "boss")


@pytest.fixture
def boss(path: str, clock: Clock) -> Iterator[artreg.Registry]:
    with artreg.open(path, user="boss", clock=clock) as reg:
        yield reg


def log_model(reg: artreg.Registry, content: str = "1", **kwargs: Any) -> artreg.ArtifactVersion:
    return reg.log_artifact(make("zoo_classifier", type="model", weights=content), project="zoo", **kwargs)


def pending(reg: artreg.Registry) -> list[artreg.Delivery]:
    return reg.automations.deliveries(state="pending")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the headline -------------------------------------------------------------------------------


def test_adding_production_to_a_linked_model_fires_exactly_one_webhook(
    boss: artreg.Registry, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    created = boss.automations.create(
        "deploy", event="alias_added", scope="model", filter={"alias": "production"},
        action=artreg.webhook(hooks.url("/deploy"), secret_env="HOOK_SECRET"),
    )
    assert (created.scope, created.enabled, created.created_by) == ("wandb-registry-model", True, "boss")
    model = log_model(boss, aliases=["production"])  # production in a project, not in the registry
    link = model.link("wandb-registry-model/Zoo_Classifier_Models", aliases=["staging"])
    assert pending(boss) == [] and boss.deliver() == artreg.DeliveryReport()
    link.aliases.append("production")
    link.save()
    (event,) = pending(boss)
    assert hooks.requests == []  # queued in the transaction, sent by deliver()
    assert boss.deliver() == artreg.DeliveryReport(delivered=1, attempts=1)
    (request,) = hooks.requests
    assert request.path == "/deploy"
    assert request.json == {
        "event": "alias_added",
        "automation": "deploy",
        "registry": "model",
        "project": "wandb-registry-model",
        "collection": "wandb-registry-model/Zoo_Classifier_Models",
        "version": "wandb-registry-model/Zoo_Classifier_Models:v0",
        "alias": "production",
        "source": "zoo/zoo_classifier:v0",
        "user": "boss",
        "time": "2026-05-01T09:00:00.000000Z",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert (request.headers["X-Artreg-Event"], request.headers["X-Artreg-Delivery"]) == ("alias_added", str(event.id))
    assert request.headers["X-Artreg-Secret"] == "s3cret"
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Artreg-Signature"] == f"sha256={expected}"
    (done,) = boss.automations.deliveries()
    assert (done.state, done.payload["alias"], [a.status for a in done.attempts]) == ("delivered", "production", [200])
    assert "s3cret" not in json.dumps(done.payload) + done.body  # the secret is never stored
    assert boss.deliver() == artreg.DeliveryReport() and len(hooks.requests) == 1


# -- which changes fire -------------------------------------------------------------------------


def test_each_event_fires_for_what_it_names(boss: artreg.Registry, hooks: Hooks) -> None:
    hook = artreg.webhook(hooks.url("/all"))
    boss.automations.create("created", event="version_created", scope="zoo", action=hook)
    boss.automations.create("aliased", event="alias_added", scope="zoo", action=hook)
    boss.automations.create("linked", event="version_linked", scope="wandb-registry-model", action=hook)
    v0 = log_model(boss, "1", aliases=["best"])
    assert log_model(boss, "1", aliases=["best"]) == v0  # dedup: no version, and best did not move
    v1 = log_model(boss, "2", aliases=["best"])  # a move onto v1 fires too
    v0.link("wandb-registry-model/Zoo")
    v0.link("wandb-registry-model/Zoo")  # linking again makes no new link
    boss.log_artifact(make("other", type="model", w="x"), project="elsewhere")  # out of scope
    fired = [(d.automation, d.payload["version"], d.payload["alias"]) for d in pending(boss)]
    assert fired == [
        ("created", "zoo/zoo_classifier:v0", None),
        ("aliased", "zoo/zoo_classifier:v0", "best"),
        ("created", "zoo/zoo_classifier:v1", None),
        ("aliased", "zoo/zoo_classifier:v1", "best"),
        ("linked", "wandb-registry-model/Zoo:v0", None),
    ]
    assert v1.version == "v1"
    boss.deliver()
    assert [r.json["event"] for r in hooks.to("/all")] == [
        "version_created", "alias_added", "version_created", "alias_added", "version_linked",
    ]


def test_filters_scopes_and_latest(boss: artreg.Registry, hooks: Hooks) -> None:
    log_model(boss, "0")
    boss.log_artifact(make("tokenizer", w="t"), project="zoo")
    hook = artreg.webhook(hooks.url("/h"))
    boss.automations.create("prod-like", event="alias_added", scope="zoo", filter={"alias": "prod.*"}, action=hook)
    boss.automations.create("latest-too", event="alias_added", scope="zoo/zoo_classifier", filter={"alias": "latest|best"}, action=hook)
    boss.automations.create("classifiers", event="version_created", scope="zoo", filter={"collection": ".*classifier"}, action=hook)
    log_model(boss, "1", aliases=["production", "preprod", "best"])
    boss.log_artifact(make("tokenizer", w="t2"), project="zoo", aliases=["production"])
    fired = sorted((d.automation, d.payload["collection"], d.payload["alias"] or "") for d in pending(boss))
    assert fired == [
        ("classifiers", "zoo/zoo_classifier", ""),
        ("latest-too", "zoo/zoo_classifier", "best"),
        ("latest-too", "zoo/zoo_classifier", "latest"),
        ("prod-like", "zoo/tokenizer", "production"),
        ("prod-like", "zoo/zoo_classifier", "production"),
    ]  # 'preprod' does not fully match prod.*; latest only where the filter names it


def test_disable_enable_and_delete(boss: artreg.Registry, hooks: Hooks) -> None:
    boss.automations.create("h", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/h")))
    boss.automations.disable("h")
    assert boss.automations.get("h").enabled is False
    log_model(boss, "1")
    assert pending(boss) == []
    boss.automations.enable("h")
    log_model(boss, "2")
    assert len(pending(boss)) == 1
    boss.automations.disable("h")
    assert boss.deliver().delivered == 1  # already queued: still delivered
    log_model(boss, "3")
    boss.automations.enable("h")
    log_model(boss, "4")
    boss.automations.delete("h")
    assert [d.state for d in boss.automations.deliveries()] == ["delivered", "cancelled"]
    assert boss.deliver() == artreg.DeliveryReport() and len(hooks.requests) == 1
    with pytest.raises(artreg.NotFound):
        boss.automations.get("h")
    actions = [e.action for e in boss.audit.entries() if e.action.startswith("automation_")]
    assert actions == ["automation_" + a for a in ("created", "disabled", "enabled", "disabled", "enabled", "deleted")]
    boss.audit.verify()


# -- delivery -----------------------------------------------------------------------------------


def test_a_500_is_retried_with_backoff_and_logged(boss: artreg.Registry, hooks: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="artreg")
    hooks.replies["/flaky"] = [500, 503, 204]
    boss.automations.retry = artreg.RetryPolicy(max_attempts=5, backoff=10)
    boss.automations.create("flaky", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/flaky")))
    log_model(boss)
    assert boss.deliver(T0) == artreg.DeliveryReport(retrying=1, attempts=1)
    (event,) = pending(boss)
    assert event.next_attempt_at == T0 + timedelta(seconds=10)
    assert boss.deliver(T0 + timedelta(seconds=9)) == artreg.DeliveryReport()  # not due yet
    assert boss.deliver(T0 + timedelta(seconds=10)).retrying == 1
    assert pending(boss)[0].next_attempt_at == T0 + timedelta(seconds=30)  # 10 s, then 20 s
    assert boss.deliver(T0 + timedelta(seconds=30)) == artreg.DeliveryReport(delivered=1, attempts=1)
    (done,) = boss.automations.deliveries("flaky")
    assert done.state == "delivered" and done.next_attempt_at is None and done.finished_at == T0 + timedelta(seconds=30)
    assert [(a.at - T0, a.status, a.error) for a in done.attempts] == [
        (timedelta(0), 500, "HTTP 500 Internal Server Error"),
        (timedelta(seconds=10), 503, "HTTP 503 Service Unavailable"),
        (timedelta(seconds=30), 204, None),
    ]
    assert len(hooks.to("/flaky")) == 3 and len({r.body for r in hooks.requests}) == 1
    assert [r.headers["X-Artreg-Attempt"] for r in hooks.requests] == ["1", "2", "3"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "HTTP 500" in warnings[0] and "'flaky'" in warnings[0]


def test_a_dead_endpoint_is_given_up_after_the_limit(boss: artreg.Registry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="artreg")
    dead = f"http://127.0.0.1:{free_port()}/gone"
    boss.automations.create("dead", event="version_created", scope="zoo", action=artreg.webhook(dead))
    log_model(boss)
    policy = artreg.RetryPolicy(max_attempts=3, backoff=1, timeout=2)
    assert boss.deliver(T0, retry=policy).retrying == 1
    assert boss.deliver(T0 + timedelta(seconds=1), retry=policy).retrying == 1
    assert boss.deliver(T0 + timedelta(seconds=3), retry=policy) == artreg.DeliveryReport(failed=1, attempts=1)
    assert boss.deliver(T0 + timedelta(days=1), retry=policy) == artreg.DeliveryReport()
    (gone,) = boss.automations.deliveries(state="failed")
    assert [a.status for a in gone.attempts] == [None, None, None]
    assert all("refused" in (a.error or "").lower() for a in gone.attempts)
    assert gone.finished_at == T0 + timedelta(seconds=3)
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "giving up" in error and "3 times" in error


def test_zero_backoff_retries_within_one_call(boss: artreg.Registry, hooks: Hooks) -> None:
    hooks.replies["/h"] = [500, 500, 200]
    boss.automations.create("h", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/h")))
    log_model(boss)
    assert boss.deliver(retry=artreg.RetryPolicy(max_attempts=5, backoff=0)) == artreg.DeliveryReport(delivered=1, attempts=3)


def test_redirects_are_not_followed_and_a_missing_secret_is_an_attempt(
    boss: artreg.Registry, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks.replies["/moved"] = [302]
    boss.automations.create("moved", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/moved")))
    boss.automations.create("secret", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/s"), secret_env="NO_SUCH"))
    monkeypatch.delenv("NO_SUCH", raising=False)
    log_model(boss)
    assert boss.deliver(T0) == artreg.DeliveryReport(retrying=2, attempts=2)
    moved, secret = boss.automations.deliveries()
    assert (moved.attempts[0].status, moved.attempts[0].error) == (302, "HTTP 302 Found")
    assert (secret.attempts[0].status, secret.attempts[0].error) == (None, "environment variable NO_SUCH is not set")
    assert [r.path for r in hooks.requests] == ["/moved"]  # no GET of /elsewhere, no POST without the secret
    monkeypatch.setenv("NO_SUCH", "now set")
    assert boss.deliver(T0 + timedelta(days=1)).attempts == 2
    assert hooks.to("/s")[0].headers["X-Artreg-Secret"] == "now set"


def test_a_claimed_event_is_sent_again_after_its_lease(boss: artreg.Registry, hooks: Hooks) -> None:
    """A deliverer that claimed an event and died mid-POST: another sends it once the lease has passed."""
    boss.automations.create("h", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/h")))
    log_model(boss)
    policy = boss.automations.retry
    with boss._db.write() as con:
        claimed = con.execute(CLAIM, {"lease": format_time(T0 + policy.lease), "now": format_time(T0), "batch": 10})
        assert len(claimed.fetchall()) == 1
    assert boss.deliver(T0 + policy.lease - timedelta(seconds=1)) == artreg.DeliveryReport()
    assert boss.deliver(T0 + policy.lease).delivered == 1 and len(hooks.requests) == 1


CHILD = textwrap.dedent("""
    import sys, time
    import artreg
    with artreg.open(sys.argv[1], user="boss") as reg:
        art = artreg.Artifact("zoo_classifier", type="model")
        with art.new_file("weights") as f:
            f.write("w")
        version = reg.log_artifact(art, project="zoo")
        link = version.link("wandb-registry-model/Zoo", aliases=["production"])
        print(link.qualified_name, flush=True)
        time.sleep(120)  # SIGKILLed here: committed, never delivered
""")


def test_an_event_survives_a_crash_between_commit_and_delivery(path: str, hooks: Hooks) -> None:
    with artreg.open(path, user="boss") as reg:
        reg.automations.create(
            "deploy", event="alias_added", scope="model", filter={"alias": "production"}, action=artreg.webhook(hooks.url("/deploy"))
        )
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "wandb-registry-model/Zoo:v0"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert hooks.requests == []
    with artreg.open(path, user="boss") as fresh:
        assert fresh.deliver() == artreg.DeliveryReport(delivered=1, attempts=1)
    (request,) = hooks.requests
    assert (request.json["version"], request.json["alias"], request.json["source"]) == (
        "wandb-registry-model/Zoo:v0", "production", "zoo/zoo_classifier:v0",
    )


def test_the_background_deliverer(path: str, hooks: Hooks) -> None:
    with artreg.open(path, user="boss") as reg:
        reg.automations.create("h", event="version_created", scope="zoo", action=artreg.webhook(hooks.url("/h")))
        log_model(reg, "queued before the start")
        reg.start_delivery(interval=30)  # the first round runs at once
        reg.start_delivery(interval=30)  # a second start is a no-op
        deadline = time.monotonic() + 10
        while len(hooks.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        log_model(reg, "woken by the commit")  # long before the 30 s interval
        while len(hooks.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.json["version"] for r in hooks.requests] == ["zoo/zoo_classifier:v0", "zoo/zoo_classifier:v1"]
        deliverer = reg._deliverer
        assert deliverer is not None
    assert not deliverer._thread.is_alive()  # close() stopped it
    with artreg.open(path) as reg, pytest.raises(artreg.InvalidName, match="interval"):
        reg.start_delivery(interval=0)


def test_payload_template(boss: artreg.Registry, hooks: Hooks) -> None:
    template = '{{"text": "{alias} now points at {version} ({user})", "registry": "{registry}", "source": "{source}"}}'
    boss.automations.create(
        "slack", event="alias_added", scope="zoo", action=artreg.webhook(hooks.url("/slack"), payload_template=template)
    )
    log_model(boss, aliases=['say "hi"\\'])
    boss.deliver()
    assert hooks.requests[0].json == {
        "text": 'say "hi"\\ now points at zoo/zoo_classifier:v0 (boss)', "registry": "", "source": "",
    }


# -- callbacks ----------------------------------------------------------------------------------


def test_callbacks_run_after_commit_and_their_failures_are_logged(
    path: str, boss: artreg.Registry, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[artreg.AutomationEvent, str]] = []

    def check(event: artreg.AutomationEvent) -> None:
        with artreg.open(path) as other:  # another connection sees the change: it has committed
            seen.append((event, other.artifact(event.version).version))

    def broken(event: artreg.AutomationEvent) -> None:
        raise RuntimeError("the callback broke")

    caplog.set_level(logging.ERROR, logger="artreg")
    boss.automations.create("check", event="version_created", scope="zoo", action=artreg.callback(check))
    boss.automations.create("broken", event="alias_added", scope="zoo", action=artreg.callback(broken))
    v = log_model(boss, aliases=["best"])
    assert v.aliases == ["best", "latest"]  # the failing callback undid nothing
    ((event, found),) = seen
    assert (event.event, event.automation, event.version, event.user, event.time, found) == (
        "version_created", "check", "zoo/zoo_classifier:v0", "boss", T0, "v0",
    )
    assert event.payload()["time"] == "2026-05-01T09:00:00.000000Z"
    (record,) = caplog.records
    assert "'broken'" in record.getMessage() and record.exc_info is not None
    assert boss.automations.deliveries() == []  # callbacks never go through the outbox


def test_callbacks_are_not_fired_by_a_rolled_back_change(boss: artreg.Registry) -> None:
    from artreg._aliases import set_alias

    seen: list[artreg.AutomationEvent] = []
    boss.automations.create("seen", event="alias_added", scope="zoo", action=artreg.callback(seen.append))
    boss.automations.create("hook", event="alias_added", scope="zoo", action=artreg.webhook("http://127.0.0.1:9/x"))
    v = log_model(boss)
    with pytest.raises(RuntimeError), boss._ctx.write() as tx:
        set_alias(tx, v.collection.id, "doomed", v.id)
        raise RuntimeError("roll back")
    assert seen == [] and pending(boss) == []


def test_callbacks_live_only_in_their_registry_object(path: str, boss: artreg.Registry) -> None:
    seen: list[str] = []
    boss.automations.create("mine", event="version_created", scope="zoo", action=artreg.callback(lambda e: seen.append(e.version)))
    log_model(boss, "1")
    with artreg.open(path, user="boss") as other:
        assert [a.name for a in other.automations.list()] == []
        log_model(other, "2")  # a change through another object does not reach this callback
        with pytest.raises(artreg.NotFound):
            other.automations.delete("mine")
    assert seen == ["zoo/zoo_classifier:v0"]
    assert isinstance(boss.automations.get("mine").action, artreg.Callback)
    boss.automations.disable("mine")
    log_model(boss, "3")
    boss.automations.delete("mine")
    log_model(boss, "4")
    assert seen == ["zoo/zoo_classifier:v0"] and boss.automations.list() == []


# -- permissions and bad input ------------------------------------------------------------------


def test_registry_automations_need_the_admin_role(path: str, boss: artreg.Registry, hooks: Hooks) -> None:
    log_model(boss)
    vault = boss.create_registry("vault", visibility="restricted")
    boss.automations.create("vaulted", event="version_linked", scope="vault", action=artreg.webhook(hooks.url("/v")))
    boss.registry("model").add_member("mia", "member")
    with artreg.open(path, user="mia") as mia:
        with pytest.raises(artreg.PermissionDenied, match="admin"):
            mia.automations.create("m", event="alias_added", scope="model", action=artreg.webhook(hooks.url("/m")))
        with pytest.raises(artreg.PermissionDenied, match="admin"):
            mia.automations.create("m", event="alias_added", scope="model", action=artreg.callback(print))
        mia.automations.create("mine", event="alias_added", scope="zoo", action=artreg.webhook(hooks.url("/m")))
        assert [a.name for a in mia.automations.list()] == ["mine"]  # not the vault's
        with pytest.raises(artreg.PermissionDenied):
            mia.automations.disable("vaulted")
    assert [a.name for a in boss.automations.list()] == ["mine", "vaulted"]
    vault.add_member("mia", "admin")
    with artreg.open(path, user="mia") as mia:
        mia.automations.disable("vaulted")


def webhook_to_nowhere() -> artreg.Webhook:
    return artreg.webhook("http://127.0.0.1:9/nowhere")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"event": "version_deleted"}, artreg.InvalidName, "unknown automation event 'version_deleted'"),
        ({"scope": "wandb-registry-nope"}, artreg.NotFound, "no registry named 'nope'"),
        ({"scope": "wandb-registry-"}, artreg.InvalidName, "scope"),
        ({"scope": "zoo/missing"}, artreg.NotFound, "no collection zoo/missing"),
        ({"scope": "bad:scope"}, artreg.InvalidName, "scope"),
        ({"scope": "zoo/bad name"}, artreg.InvalidName, "artifact name"),
        ({"scope": 3}, artreg.InvalidName, "scope must be"),
        ({"event": "version_linked"}, artreg.InvalidName, "version_linked happens in registries"),
        ({"scope": "model"}, artreg.InvalidName, "version_created happens in projects"),
        ({"filter": {"tag": "x"}}, artreg.InvalidName, "unknown automation filter key 'tag'"),
        ({"filter": {"alias": "prod"}}, artreg.InvalidName, "applies to alias_added"),
        ({"event": "alias_added", "filter": {"alias": "(prod"}}, artreg.InvalidName, "not a valid pattern"),
        ({"filter": {"collection": 3}}, artreg.InvalidName, "regular expression string"),
        ({"filter": "prod"}, artreg.InvalidName, "a dict"),
        ({"action": "http://127.0.0.1/x"}, artreg.InvalidName, "artreg.webhook"),
        ({"name": "a/b"}, artreg.InvalidName, "automation name"),
        ({"name": "taken"}, artreg.AlreadyExists, "'taken' already exists"),
        ({"name": "taken-in-process", "action": webhook_to_nowhere()}, artreg.AlreadyExists, "already exists"),
        ({"name": "taken", "action": artreg.callback(print)}, artreg.AlreadyExists, "already exists"),
    ],
)
def test_bad_automations_change_nothing(boss: artreg.Registry, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    log_model(boss)
    boss.automations.create("taken", event="version_created", scope="zoo", action=webhook_to_nowhere())
    boss.automations.create("taken-in-process", event="version_created", scope="zoo", action=artreg.callback(print))
    before, audited = boss.automations.list(), len(boss.audit.entries())
    arguments = {"name": "new", "event": "version_created", "scope": "zoo", "action": webhook_to_nowhere(), **kwargs}
    with pytest.raises(error, match=match):
        boss.automations.create(arguments.pop("name"), **arguments)
    assert boss.automations.list() == before and len(boss.audit.entries()) == audited


@pytest.mark.parametrize(
    ("make_action", "match"),
    [
        (lambda: artreg.webhook("ftp://example.com/x"), "http:// or https://"),
        (lambda: artreg.webhook("http:///path-only"), "with a host"),
        (lambda: artreg.webhook(3), "must be a string"),  # type: ignore[arg-type]
        (lambda: artreg.webhook("http://h/x", secret_env="1BAD"), "secret_env"),
        (lambda: artreg.webhook("http://h/x", secret_env=""), "secret_env"),
        (lambda: artreg.webhook("http://h/x", payload_template='{{"a": "{colour}"}}'), "\\{colour\\} is not one of"),
        (lambda: artreg.webhook("http://h/x", payload_template='{{"a": "{alias!r}"}}'), "without conversions"),
        (lambda: artreg.webhook("http://h/x", payload_template='{{"a": "{alias:>9}"}}'), "without conversions"),
        (lambda: artreg.webhook("http://h/x", payload_template='{{"a": {alias}}}'), "does not render to JSON"),
        (lambda: artreg.webhook("http://h/x", payload_template='{"a": 1}'), "is not one of|str.format"),
        (lambda: artreg.webhook("http://h/x", payload_template="{"), "str.format"),
        (lambda: artreg.callback(3), "callable"),  # type: ignore[arg-type]
        (lambda: artreg.RetryPolicy(max_attempts=0), "max_attempts"),
        (lambda: artreg.RetryPolicy(backoff=-1), "backoff"),
        (lambda: artreg.RetryPolicy(timeout=0), "timeout"),
        (lambda: artreg.RetryPolicy(max_backoff=float("nan")), "max_backoff"),
    ],
)
def test_bad_actions_and_policies_are_invalid_name(make_action: Any, match: str) -> None:
    with pytest.raises(artreg.InvalidName, match=match):
        make_action()


def test_unknown_names_and_states(boss: artreg.Registry) -> None:
    for method in (boss.automations.enable, boss.automations.disable, boss.automations.delete, boss.automations.get):
        with pytest.raises(artreg.NotFound, match="no automation named 'ghost'"):
            method("ghost")
    with pytest.raises(artreg.InvalidName, match="delivery state"):
        boss.automations.deliveries(state="lost")


def test_values_are_frozen() -> None:
    hook = artreg.webhook("https://example.com/h")
    with pytest.raises(AttributeError):
        hook.url = "https://elsewhere"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        artreg.RetryPolicy().max_attempts = 3  # type: ignore[misc]
