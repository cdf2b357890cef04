"""Timestamps as stored: UTC ISO-8601 text with microseconds, which sorts in time order."""

from __future__ import annotations

from datetime import datetime, timezone

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    """The stored form of an aware datetime; a naive one is taken as UTC (not local time)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from its stored form (fromisoformat: ~20x faster than strptime)."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
