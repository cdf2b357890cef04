"""Lineage (SPEC §9): the bipartite graph of runs and versions around one version.

Edges run producer -> version (``run_outputs``) and version -> consumer (``run_inputs``).
One recursive query walks them; with a depth limit the walk carries the depth, without
one it only carries the node, so a run that uses its own output cannot loop it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import apsw

from ._errors import InvalidName
from ._names import at_most_int64
from ._svg import to_svg
from .storage._pg_sql import override

if TYPE_CHECKING:
    from ._context import Context

DIRECTIONS = ("both", "upstream", "downstream")

# Upstream of a version: the runs that produced it, then the versions those runs used.
_UP_STEPS = """
    SELECT 'run', o.run_id{depth} FROM walk AS w JOIN run_outputs AS o ON o.version_id = w.id
    WHERE w.kind = 'version'{limit}
    UNION
    SELECT 'version', i.version_id{depth} FROM walk AS w JOIN run_inputs AS i ON i.run_id = w.id
    WHERE w.kind = 'run'{limit}
"""
# Downstream: the runs that used it, then the versions those runs produced.
_DOWN_STEPS = """
    SELECT 'run', i.run_id{depth} FROM walk AS w JOIN run_inputs AS i ON i.version_id = w.id
    WHERE w.kind = 'version'{limit}
    UNION
    SELECT 'version', o.version_id{depth} FROM walk AS w JOIN run_outputs AS o ON o.run_id = w.id
    WHERE w.kind = 'run'{limit}
"""
# Driven from json_each so SQLite looks each id up by key: "id IN (SELECT ... json_each)"
# over two lists made it scan, 4 s for a 10,000-node chain against 20 ms this way.
VERSION_LABELS = """
SELECT v.id, p.name || '/' || c.name || ':v' || v.idx, c.type, v.state FROM json_each(? /* bigint */) AS j
JOIN versions AS v ON v.id = j.value JOIN collections AS c ON c.id = v.collection_id
JOIN projects AS p ON p.id = c.project_id
"""
RUN_LABELS = """
SELECT r.id, r.name, r.job_type, r.state, p.name FROM json_each(? /* bigint */) AS j
JOIN runs AS r ON r.id = j.value JOIN projects AS p ON p.id = r.project_id
"""
OUTPUT_EDGES = "SELECT o.run_id, o.version_id FROM json_each(? /* bigint */) AS j JOIN run_outputs AS o ON o.run_id = j.value"
INPUT_EDGES = "SELECT i.version_id, i.run_id FROM json_each(? /* bigint */) AS j JOIN run_inputs AS i ON i.run_id = j.value"


def _walk_sql(steps: str, limited: bool) -> str:
    if limited:
        body = steps.format(depth=", w.depth + 1", limit=" AND w.depth < :depth")
        return f"WITH RECURSIVE walk(kind, id, depth) AS (SELECT 'version', :root, 0 UNION {body}) SELECT kind, id FROM walk"
    body = steps.format(depth="", limit="")
    return f"WITH RECURSIVE walk(kind, id) AS (SELECT 'version', :root UNION {body}) SELECT kind, id FROM walk"


# PostgreSQL allows one recursive reference to the walk: it joins the walk once with both
# kinds of edge (version -> run, run -> version) as one relation.
_PG_UP_EDGES = """SELECT 'version' AS from_kind, o.version_id AS from_id, 'run' AS kind, o.run_id AS id FROM run_outputs AS o
    UNION ALL SELECT 'run', i.run_id, 'version', i.version_id FROM run_inputs AS i"""
_PG_DOWN_EDGES = """SELECT 'version' AS from_kind, i.version_id AS from_id, 'run' AS kind, i.run_id AS id FROM run_inputs AS i
    UNION ALL SELECT 'run', o.run_id, 'version', o.version_id FROM run_outputs AS o"""


def _pg_walk_sql(edges: str, limited: bool) -> str:
    step = f"FROM walk AS w JOIN ({edges}) AS e ON e.from_kind = w.kind AND e.from_id = w.id"
    if limited:
        return (f"WITH RECURSIVE walk(kind, id, depth) AS (SELECT 'version', CAST(:root AS bigint), 0 "
                f"UNION SELECT e.kind, e.id, w.depth + 1 {step} WHERE w.depth < :depth) SELECT kind, id FROM walk")
    return (f"WITH RECURSIVE walk(kind, id) AS (SELECT 'version', CAST(:root AS bigint) "
            f"UNION SELECT e.kind, e.id {step}) SELECT kind, id FROM walk")


for _steps, _edges in ((_UP_STEPS, _PG_UP_EDGES), (_DOWN_STEPS, _PG_DOWN_EDGES)):
    for _limited in (False, True):
        override(_walk_sql(_steps, _limited), _pg_walk_sql(_edges, _limited))


@dataclass(frozen=True)
class LineageNode:
    """A version (``kind="version"``) or a run (``kind="run"``) of a lineage graph."""

    id: str
    kind: str
    label: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LineageEdge:
    """``source`` produced ``target`` (run -> version) or was used by it (version -> run)."""

    source: str
    target: str
    kind: str


@dataclass(frozen=True)
class LineageGraph:
    """Runs and versions around ``root``, with exports to JSON, Graphviz DOT, Mermaid and SVG."""

    root: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_text(self) -> str:
        """Plain text for a terminal: each run (oldest first) with what it used, then what it produced.

        The version the graph was drawn around is marked ``<- this version``; a version
        no run logged or used is said to have no lineage.
        """
        labels = {n.id: n for n in self.nodes}
        steps: dict[str, list[tuple[int, int, str]]] = {}
        for e in self.edges:
            if e.kind == "used":
                steps.setdefault(e.target, []).append((0, _number(e.source), e.source))
            else:
                steps.setdefault(e.source, []).append((1, _number(e.target), e.target))
        runs = sorted((n for n in self.nodes if n.kind == "run"), key=lambda n: _number(n.id))
        if not runs:
            return f"{_text_label(labels[self.root], '')}: no run logged or used it\n"
        lines: list[str] = []
        for run in runs:
            about = ", ".join(str(v) for v in (run.detail.get("job_type"), run.detail.get("state")) if v)
            lines.append(f"run {run.label} ({about})")
            for produced, _, node_id in sorted(steps.get(run.id, [])):
                lines.append(f"    {'produced' if produced else 'used':<8}  {_text_label(labels[node_id], self.root)}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node in self.nodes:
            shape = "box" if node.kind == "version" else "ellipse"
            style = ", style=bold" if node.id == self.root else ""
            label = _dot_quote(f"{node.label}\n{_subtitle(node)}")
            lines.append(f"  {_dot_quote(node.id)} [label={label}, shape={shape}{style}];")
        lines += [f"  {_dot_quote(e.source)} -> {_dot_quote(e.target)};" for e in self.edges]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_svg(self, *, href: Callable[[LineageNode], str | None] | None = None) -> str:
        """The graph drawn as a standalone SVG document: a layered left-to-right DAG.

        Versions are boxes, runs rounded pills, the root drawn bold, deleted versions and
        crashed runs dashed; every label is escaped, and the output is the same bytes for
        the same graph. ``href(node)`` may return a link for a node (the web view links
        versions to their pages).
        """
        return to_svg(self, href)

    def to_mermaid(self) -> str:
        lines = ["flowchart LR"]
        for node in self.nodes:
            text = _mermaid_text(f"{node.label}<br/>{_subtitle(node)}")
            lines.append(f"  {_mermaid_id(node.id)}[{text}]" if node.kind == "version" else f"  {_mermaid_id(node.id)}([{text}])")
        lines += [f"  {_mermaid_id(e.source)} --> {_mermaid_id(e.target)}" for e in self.edges]
        return "\n".join(lines) + "\n"


def _number(node_id: str) -> int:
    return int(node_id.partition(":")[2])


def _text_label(node: LineageNode, root: str) -> str:
    state = node.detail.get("state")
    gone = " [deleted]" if state not in (None, "committed") else ""
    mark = "  <- this version" if node.id == root else ""
    return f"{node.label} ({node.detail.get('type')}){gone}{mark}"


def _subtitle(node: LineageNode) -> str:
    return str(node.detail.get("type") if node.kind == "version" else node.detail.get("job_type") or "run")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _mermaid_id(node_id: str) -> str:
    return node_id.replace(":", "_")


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def lineage(ctx: Context, version_id: int, *, direction: str, depth: int | None) -> LineageGraph:
    """The lineage graph of one version (see ``ArtifactVersion.lineage``)."""
    if direction not in DIRECTIONS:
        raise InvalidName(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise InvalidName(f"depth must be a non-negative number of hops or None, not {depth!r}")
    if depth is not None:
        depth = at_most_int64(depth)
    steps = [s for d, s in (("upstream", _UP_STEPS), ("downstream", _DOWN_STEPS)) if direction in (d, "both")]
    runs: set[int] = set()
    versions: set[int] = {version_id}
    with ctx.read() as con:
        for step in steps:
            for kind, node in con.execute(_walk_sql(step, depth is not None), {"root": version_id, "depth": depth}):
                (runs if kind == "run" else versions).add(node)
        return _graph(con, version_id, runs, versions)


def _graph(con: apsw.Connection, root: int, runs: set[int], versions: set[int]) -> LineageGraph:
    run_ids, version_ids = json.dumps(sorted(runs)), json.dumps(sorted(versions))
    nodes = [
        LineageNode(f"version:{i}", "version", label, {"type": type_, "state": state})
        for i, label, type_, state in con.execute(VERSION_LABELS, (version_ids,))
    ]
    nodes += [
        LineageNode(f"run:{i}", "run", f"{project}/{name}", {"job_type": job_type, "state": state})
        for i, name, job_type, state, project in con.execute(RUN_LABELS, (run_ids,))
    ]
    edges = [LineageEdge(f"run:{r}", f"version:{v}", "produced") for r, v in con.execute(OUTPUT_EDGES, (run_ids,)) if v in versions]
    edges += [LineageEdge(f"version:{v}", f"run:{r}", "used") for v, r in con.execute(INPUT_EDGES, (run_ids,)) if v in versions]
    return LineageGraph(f"version:{root}", tuple(sorted(nodes, key=lambda n: n.id)), tuple(sorted(edges, key=_edge_key)))


def _edge_key(edge: LineageEdge) -> tuple[str, str]:
    return (edge.source, edge.target)
