"""Full-text search over names, descriptions, aliases and tags (SPEC §11), with SQLite FTS5.

The index (``search_docs`` and its FTS5 table ``search_fts``, migration 4) is kept in step
by triggers, so it changes in the transaction of the data it indexes. A version's
description and tags are its source's when it is a link, so a hit on them is reported for
the version and for each live link to it; an alias is reported for the version (or link)
holding it. Registry content is reported only to users with a role in that registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw

from ._access import role_of
from ._errors import ArtregError, InvalidName
from ._names import at_most_int64
from .storage._pg_sql import SYNTAX_ERROR, override

if TYPE_CHECKING:
    from ._context import Context

KINDS = ("registry", "collection", "version")
DEFAULT_LIMIT = 50

# bm25() is negative, lower is better. ``hits`` turns each matching document into the
# registry, collection or version(s) it describes (a version's description and tags also
# into its links); the outer query drops registries the user cannot see. CROSS JOIN keeps
# the matches as the outer loop, so a search never scans every version.
SEARCH_SQL = """
WITH matched AS MATERIALIZED (
    SELECT d.kind, d.ref_id, d.field, d.text, bm25(search_fts) AS rank
    FROM search_fts JOIN search_docs AS d ON d.id = search_fts.rowid
    WHERE search_fts MATCH :query AND d.kind IN (SELECT value FROM json_each(:kinds))
),
hits(kind, field, text, rank, ref, registry_id) AS (
    SELECT m.kind, m.field, m.text, m.rank, r.name, r.id
    FROM matched AS m JOIN registries AS r ON r.id = m.ref_id
    WHERE m.kind = 'registry'
    UNION ALL
    SELECT m.kind, m.field, m.text, m.rank, p.name || '/' || c.name, r.id
    FROM matched AS m JOIN collections AS c ON c.id = m.ref_id JOIN projects AS p ON p.id = c.project_id
    LEFT JOIN registries AS r ON r.project_id = p.id
    WHERE m.kind = 'collection' AND c.deleted_at IS NULL
    UNION ALL
    SELECT m.kind, m.field, m.text, m.rank, p.name || '/' || c.name || ':v' || v.idx, r.id
    FROM matched AS m CROSS JOIN versions AS v ON v.id = m.ref_id
    JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
    LEFT JOIN registries AS r ON r.project_id = p.id
    WHERE m.kind = 'version' AND v.state = 'committed' AND c.deleted_at IS NULL
    UNION ALL
    SELECT m.kind, m.field, m.text, m.rank, p.name || '/' || c.name || ':v' || v.idx, r.id
    FROM matched AS m CROSS JOIN versions AS v ON v.source_id = m.ref_id
    JOIN collections AS c ON c.id = v.collection_id JOIN projects AS p ON p.id = c.project_id
    LEFT JOIN registries AS r ON r.project_id = p.id
    WHERE m.kind = 'version' AND m.field != 'alias' AND v.state = 'committed' AND c.deleted_at IS NULL
)
SELECT kind, field, text, rank, ref FROM hits
WHERE registry_id IS NULL OR registry_id IN (SELECT value FROM json_each(:visible))
ORDER BY rank, kind, ref, field, text
LIMIT :limit
"""

# The catalog in PostgreSQL (SPEC §18) matches with a tsquery over search_docs.tsv (the
# 'simple' configuration: lower-cased words, no stemming, as FTS5's unicode61) and ranks by
# ts_rank, negated to sort as bm25 does, divided by 1 + the log of the field's distinct words
# (normalisation 16) so that, as with bm25, more matches rank higher and a longer field lower.
# Ranking still differs from bm25: ts_rank does not weigh how rare a word is in the index.
PG_SEARCH_SQL = SEARCH_SQL.replace(
    """    SELECT d.kind, d.ref_id, d.field, d.text, bm25(search_fts) AS rank
    FROM search_fts JOIN search_docs AS d ON d.id = search_fts.rowid
    WHERE search_fts MATCH :query AND""",
    """    SELECT d.kind, d.ref_id, d.field, d.text, -ts_rank(d.tsv, q.query, 16) AS rank
    FROM search_docs AS d, to_tsquery('simple', artreg_unaccent(:query)) AS q(query)
    WHERE d.tsv @@ q.query AND""",
).replace("CROSS JOIN", "JOIN")
override(SEARCH_SQL, PG_SEARCH_SQL)

# A quoted phrase (optionally a prefix), a parenthesis, or a bare word.
_TOKEN = re.compile(r'\s*(?:("(?:[^"]|"")*"\*?)|([()])|([^\s()"]+))')
_OPERATORS = ("AND", "OR", "NOT")


@dataclass(frozen=True)
class SearchHit:
    """One match: what it is, which of its fields matched, and where it is.

    ``kind`` is ``registry``, ``collection`` or ``version``; ``field`` is ``name``,
    ``description``, ``alias`` or ``tag``; ``text`` is that field's value. ``ref`` is the
    registry's name, ``project/collection``, or ``project/collection:vN`` (pass it to
    ``reg.registry``, ``reg.collection`` or ``reg.artifact``). ``score`` is the bm25
    relevance (higher is better); hits come best first.
    """

    kind: str
    field: str
    ref: str
    text: str
    score: float


def fts_query(text: object) -> str:
    """Translate the user's search text to an FTS5 query.

    Words are matched as words (punctuation inside them, as in ``production-us`` or
    ``wandb-registry-model``, is not syntax); ``word*`` is a prefix; ``"a phrase"``, ``AND``,
    ``OR``, ``NOT`` and parentheses keep their FTS5 meaning. Several words must all match.
    """
    if not isinstance(text, str):
        raise InvalidName(f"search text must be a string, not {type(text).__name__}: {text!r}")
    parts: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        found = _TOKEN.match(text, position)
        if found is None:
            raise InvalidName(f"search text has an unterminated quote: {text!r}")
        phrase, paren, word = found.groups()
        if phrase or paren:
            parts.append(phrase or paren)
        elif word in _OPERATORS:
            parts.append(word)
        else:
            prefix = word.endswith("*")
            stem = word.rstrip("*")
            if not stem:
                raise InvalidName(f"search text has a '*' that follows no word: {text!r}")
            parts.append(f'"{stem}"' + ("*" if prefix else ""))
        position = found.end()
    if not parts:
        raise InvalidName(f"search text is empty: {text!r}")
    return " ".join(parts)


def ts_query(fts: str) -> str | None:
    """An FTS5 query of ``fts_query`` as PostgreSQL's tsquery text, with the same meaning; None when it matches nothing.

    A phrase becomes its words joined by ``<->`` (followed by), a prefix ``:*`` on its last
    word; ``AND``, ``OR``, ``NOT`` become ``&``, ``|``, ``& !``, and phrases side by side are
    joined by ``&`` as FTS5 joins them. Words are split as FTS5's tokenizer splits them
    (letters and digits), so ``production-us`` is the phrase of its two words in both. A
    phrase of no words (``&``) is what FTS5 makes of it: left out from between phrases side
    by side and from either side of ``OR`` and the right of ``NOT``, and nothing under ``AND``.
    Raises InvalidName where FTS5 reports a syntax error.
    """
    tokens = [(found.group(1), found.group(2), found.group(3)) for found in _TOKEN.finditer(fts)]
    at = 0

    def peek() -> tuple[str | None, str | None, str | None] | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> tuple[str | None, str | None, str | None]:
        nonlocal at
        token = peek()
        if token is None:
            raise InvalidName(f"search text ends where a word was expected: {fts!r}")
        at += 1
        return token

    def primary() -> str | None:
        phrase, paren, word = take()
        if paren == "(":
            inside = either()
            if take()[1] != ")":
                raise InvalidName(f"search text has an unclosed parenthesis: {fts!r}")
            return inside
        if paren or word in _OPERATORS:
            raise InvalidName(f"search text has {paren or word!r} where a word was expected: {fts!r}")
        text = phrase or word or ""
        words = _WORD.findall(text.rstrip("*")[1:-1].replace('""', '"'))
        if not words:
            return None
        lexemes = [f"'{w}'" for w in words]  # the 'simple' dictionary lower-cases them, as it does the text
        if text.endswith("*"):
            lexemes[-1] += ":*"
        return "(" + " <-> ".join(lexemes) + ")"

    def negated() -> str | None:
        left = primary()
        while (token := peek()) is not None and token[2] == "NOT":
            take()
            right = primary()
            left = None if left is None else left if right is None else f"({left} & !{right})"
        return left

    def both() -> str | None:
        left = negated()
        while (token := peek()) is not None and token[2] != "OR" and token[1] != ")":
            explicit = token[2] == "AND"
            if explicit:
                take()
            right = negated()
            if explicit and (left is None or right is None):
                left = None
                continue
            left = right if left is None else left if right is None else f"({left} & {right})"
        return left

    def either() -> str | None:
        left = both()
        while (token := peek()) is not None and token[2] == "OR":
            take()
            right = both()
            left = right if left is None else left if right is None else f"({left} | {right})"
        return left

    query = either()
    if peek() is not None:
        raise InvalidName(f"search text has an unmatched {tokens[at][1] or tokens[at][2]!r}: {fts!r}")
    return query


_WORD = re.compile(r"[^\W_]+")


def _kinds(kinds: Iterable[str] | None) -> list[str]:
    if kinds is None:
        return list(KINDS)
    if isinstance(kinds, (str, bytes)) or not hasattr(kinds, "__iter__"):
        raise InvalidName(f"kinds must be a list of {', '.join(KINDS)}, not {kinds!r}")
    chosen = list(kinds)
    for kind in chosen:
        if kind not in KINDS:
            raise InvalidName(f"unknown search kind {kind!r}; kinds are {', '.join(KINDS)}")
    return chosen


def search(ctx: Context, text: str, *, kinds: Iterable[str] | None, limit: int) -> list[SearchHit]:
    """Rank registries, collections and versions matching ``text`` (see ``Registry.search``)."""
    query = fts_query(text)
    chosen = _kinds(kinds)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidName(f"limit must be a positive number of hits, not {limit!r}")
    limit = at_most_int64(limit)
    if ctx.db.dialect == "postgresql":
        tsquery = ts_query(query)
        if tsquery is None:
            return []  # phrases of no words alone: FTS5 matches nothing either
        query = tsquery
    with ctx.read() as con:
        registry_ids = [r[0] for r in con.execute("SELECT id FROM registries")]
        visible = [i for i in registry_ids if role_of(con, i, ctx.user) is not None]
        args = {"query": query, "kinds": json.dumps(chosen), "visible": json.dumps(visible), "limit": limit}
        try:
            rows: list[Any] = con.execute(SEARCH_SQL, args).fetchall()
        except apsw.SQLError as exc:
            raise InvalidName(f"cannot search for {text!r}: {exc}") from exc
        except ArtregError as exc:  # PostgreSQL's to_tsquery refusing the query's syntax
            if getattr(exc, "sqlstate", None) != SYNTAX_ERROR:
                raise
            raise InvalidName(f"cannot search for {text!r}: {exc}") from exc
    return [SearchHit(kind, field, ref, value, -rank) for kind, field, value, rank, ref in rows]
