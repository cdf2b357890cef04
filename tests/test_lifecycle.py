"""SPEC §8: TTL, deletion, retention by count, expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import artreg
from conftest import CATALOGS, Clock, made_by, make

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture(params=CATALOGS)
def creg(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[artreg.Registry]:
    """A registry on each catalog, on the test's clock."""
    with artreg.open(made_by(request, tmp_path, "r", "tester"), clock=clock, inline_limit=16) as reg:
        yield reg


def indices(reg: artreg.Registry, name: str = "ds") -> list[int]:
    return [v.index for v in reg.artifacts("p", name)]


# -- deletion ---------------------------------------------------------------------------


def test_delete_refuses_while_aliases_are_held(creg: artreg.Registry) -> None:
    v0 = creg.log_artifact(make(x="0"), project="p", aliases=["best"])
    creg.log_artifact(make(x="1"), project="p")
    with pytest.raises(artreg.Conflict, match="best"):
        v0.delete()
    assert indices(creg) == [1, 0]
    v0.delete(delete_aliases=True)
    assert v0.state == "deleted" and v0.aliases == []
    assert indices(creg) == [1]
    with pytest.raises(artreg.NotFound):
        creg.artifact("p/ds:v0")
    with pytest.raises(artreg.NotFound):
        creg.artifact("p/ds:best")
    with pytest.raises(artreg.NotFound):
        v0.delete(delete_aliases=True)


def test_latest_moves_back_and_indices_stay_reserved(creg: artreg.Registry) -> None:
    for i in range(3):
        creg.log_artifact(make(x=str(i)), project="p")
    latest = creg.artifact("p/ds")
    with pytest.raises(artreg.Conflict, match="latest"):
        latest.delete()
    latest.delete(delete_aliases=True)
    assert creg.artifact("p/ds").index == 1
    assert creg.log_artifact(make(x="new"), project="p").index == 3
    assert indices(creg) == [3, 1, 0]


def test_dedup_is_against_the_current_latest_after_a_deletion(creg: artreg.Registry) -> None:
    creg.log_artifact(make(x="A"), project="p")
    creg.log_artifact(make(x="B"), project="p").delete(delete_aliases=True)
    assert creg.log_artifact(make(x="A"), project="p").index == 0


def test_collection_delete_and_revival(creg: artreg.Registry) -> None:
    for i in range(2):
        creg.log_artifact(make(x=str(i)), project="p", aliases=[f"a{i}"])
    creg.collection("p/ds").delete()
    assert creg.collections("p") == []
    with pytest.raises(artreg.NotFound):
        creg.artifact("p/ds")
    with pytest.raises(artreg.NotFound):
        creg.collection("p/ds")
    with pytest.raises(artreg.TypeMismatch):
        creg.log_artifact(make(type="model", x="m"), project="p")
    again = creg.log_artifact(make(x="0"), project="p")
    assert again.index == 2 and again.aliases == ["latest"]
    assert [c.name for c in creg.collections("p")] == ["ds"]


# -- TTL --------------------------------------------------------------------------------


def test_ttl_values(creg: artreg.Registry) -> None:
    art = make(x="a")
    assert art.ttl is artreg.INHERIT
    art.ttl = timedelta(days=1)
    v = creg.log_artifact(art, project="p")
    assert v.ttl == timedelta(days=1) and v.expires_at == T0 + timedelta(days=1)
    v.ttl = None
    v.save()
    assert creg.artifact("p/ds").ttl is None and creg.artifact("p/ds").expires_at is None
    v.ttl = artreg.INHERIT
    v.save()
    assert creg.artifact("p/ds").ttl is artreg.INHERIT
    assert repr(artreg.INHERIT) == "artreg.INHERIT"


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-1), 3600, "1d"])
def test_bad_ttl_is_refused(creg: artreg.Registry, bad: object) -> None:
    with pytest.raises(artreg.InvalidName, match="ttl"):
        artreg.Artifact("ds", type="dataset", ttl=bad)  # type: ignore[arg-type]
    v = creg.log_artifact(make(x="a"), project="p")
    with pytest.raises(artreg.InvalidName, match="ttl"):
        v.ttl = bad  # type: ignore[assignment]


def test_a_ttl_checkpoint_series_expires_on_schedule(creg: artreg.Registry, clock: Clock) -> None:
    for hour in range(5):
        clock.now = T0 + timedelta(hours=hour)
        art = make("ckpt", type="model", step=str(hour))
        art.ttl = timedelta(hours=2)
        creg.log_artifact(art, project="p")
    assert creg.expire(now=T0 + timedelta(hours=1, minutes=59)) == []
    gone = creg.expire(now=T0 + timedelta(hours=3))
    assert [v.version for v in gone] == ["v0", "v1"]
    assert all(v.state == "deleted" for v in gone)
    assert indices(creg, "ckpt") == [4, 3, 2]
    clock.now = T0 + timedelta(hours=10)
    assert [v.version for v in creg.expire()] == ["v2", "v3", "v4"]
    assert indices(creg, "ckpt") == []
    assert [c.name for c in creg.collections("p")] == ["ckpt"]  # an emptied collection stays listed


def test_project_default_ttl_applies_to_inherit_only(creg: artreg.Registry) -> None:
    inherit = creg.log_artifact(make("a", x="a"), project="p")
    never = make("b", x="b")
    never.ttl = None
    never = creg.log_artifact(never, project="p")
    creg.set_default_ttl("p", timedelta(days=7))
    assert creg.artifact("p/a").expires_at == T0 + timedelta(days=7)
    assert [v.id for v in creg.expire(now=T0 + timedelta(days=8))] == [inherit.id]
    assert creg.artifact("p/b") == never
    with pytest.raises(artreg.InvalidName):
        creg.set_default_ttl("p", artreg.INHERIT)  # type: ignore[arg-type]
    creg.set_default_ttl("p", None)
    assert creg.artifact("p/b").expires_at is None


# -- retention --------------------------------------------------------------------------


def test_retention_keeps_the_newest_alias_free_versions(creg: artreg.Registry) -> None:
    creg.log_artifact(make(x="0"), project="p", aliases=["best"])
    creg.set_retention("p", keep=2)
    for i in range(1, 6):
        creg.log_artifact(make(x=str(i)), project="p")
    # v5 holds latest; v0 holds best; of the alias-free v1..v4 the newest two stay.
    assert indices(creg) == [5, 4, 3, 0]
    creg.set_retention("p", keep=0, collection="ds")
    assert [v.version for v in creg.expire()] == ["v3", "v4"]
    assert indices(creg) == [5, 0]
    creg.set_retention("p", keep=None, collection="ds")  # this collection keeps everything...
    creg.set_retention("p", keep=0)  # ...whatever its project says
    creg.log_artifact(make(x="6"), project="p")
    creg.log_artifact(make(x="7"), project="p")
    assert indices(creg) == [7, 6, 5, 0]
    creg.set_retention("p", keep=artreg.INHERIT, collection="ds")  # back to the project's: keep 0
    creg.log_artifact(make(x="8"), project="p")
    assert indices(creg) == [8, 0]


def test_bad_retention(creg: artreg.Registry) -> None:
    with pytest.raises(artreg.InvalidName):
        creg.set_retention("p", keep=-1)
    with pytest.raises(artreg.InvalidName):
        creg.set_retention("p", keep=True)  # type: ignore[arg-type]
    with pytest.raises(artreg.NotFound):
        creg.set_retention("p", keep=1, collection="missing")
    with pytest.raises(artreg.InvalidName):
        creg.set_retention("p", keep=artreg.INHERIT)  # a project has nothing to inherit from


def test_expire_dry_run_reports_without_deleting(creg: artreg.Registry) -> None:
    art = make(x="a")
    art.ttl = timedelta(hours=1)
    v = creg.log_artifact(art, project="p", aliases=["best"])
    preview = creg.expire(now=T0 + timedelta(hours=2), dry_run=True)
    assert [p.id for p in preview] == [v.id]
    assert creg.artifact("p/ds:best") == v and creg.artifact("p/ds").state == "committed"
    assert [e.id for e in creg.expire(now=T0 + timedelta(hours=2))] == [v.id]


def test_progress_is_reported_per_file(creg: artreg.Registry, tmp_path: Path) -> None:
    seen: list[artreg.Progress] = []
    v = creg.log_artifact(make(a="12", b="345"), project="p", progress=seen.append)
    assert seen[-1] == artreg.Progress(2, 2, 5, 5) and len(seen) == 2
    seen.clear()
    v.download(tmp_path / "out", progress=seen.append)
    assert [p.files_done for p in seen] == [1, 2] and seen[-1].bytes_done == 5
