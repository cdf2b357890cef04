"""Lineage drawn as SVG (``LineageGraph.to_svg``): a layered left-to-right DAG, laid out here.

The layout is the classic layered (Sugiyama) one, small enough to read: edges that close a
cycle (a run that uses its own output) are turned around, each node goes in the column of
its longest path from a source, an edge that spans several columns gets a bend point in
each column it crosses (so it is routed between nodes, never through them), and a few
barycenter sweeps order each column to reduce crossings. Every choice breaks ties by node
id, so a graph always draws to the same bytes.

The document is built with ``xml.etree.ElementTree``, which escapes every name and label;
labels are never pasted into markup by hand. Text is monospaced, so widths are known
without a font, and nothing outside the document is referenced (no fonts, no stylesheets).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._lineage import LineageGraph, LineageNode

CHAR_WIDTH = 7.2  # 12px monospace: 0.6 em per character
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
MAX_LABEL = 40  # characters shown; the whole label is the node's tooltip
NODE_HEIGHT = 40.0
PAD_X = 12.0
ROW_GAP = 18.0
COLUMN_GAP = 64.0
MARGIN = 16.0
SWEEPS = 4
COLORS = {
    "version": ("#eef4ff", "#3b6fd8"),
    "run": ("#fff5e6", "#c77700"),
}
EDGE_COLORS = {"produced": "#c77700", "used": "#3b6fd8"}
# Characters XML 1.0 cannot hold at all (escaping cannot help): replaced, not dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class _Slot:
    """A node or a bend point of a long edge, placed in one column."""

    key: str
    layer: int
    width: float
    node: LineageNode | None = None
    order: float = 0.0
    x: float = 0.0
    y: float = 0.0
    up: list[str] = field(default_factory=list)  # slots in the column to the left joined to this one
    down: list[str] = field(default_factory=list)


def _sort_key(node_id: str) -> tuple[str, int, str]:
    kind, _, number = node_id.partition(":")
    return (kind, int(number), node_id) if number.isdigit() else (kind, -1, node_id)


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "\u2026"


def _subtitle(node: LineageNode) -> str:
    what = str(node.detail.get("type") if node.kind == "version" else node.detail.get("job_type") or "run")
    state = node.detail.get("state")
    return what if state in (None, "committed", "finished") else f"{what} ({state})"


def _layers(graph: LineageGraph) -> tuple[dict[str, int], list[tuple[str, str, bool]]]:
    """Each node's column, and the edges as (from, to, reversed) pointing left to right."""
    ids = sorted((n.id for n in graph.nodes), key=_sort_key)
    out: dict[str, list[str]] = {i: [] for i in ids}
    for edge in graph.edges:
        if edge.source in out and edge.target in out:
            out[edge.source].append(edge.target)
    for targets in out.values():
        targets.sort(key=_sort_key)
    # Depth-first from every unvisited node in id order; an edge to a node still on the
    # stack closes a cycle and is turned around. Iterative, so long chains cannot overflow.
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for start in ids:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(out[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    edges = sorted(
        {(t, s, True) if (s, t) in back else (s, t, False) for s in ids for t in out[s] if s != t},
        key=lambda e: (_sort_key(e[0]), _sort_key(e[1])),
    )
    incoming: dict[str, list[str]] = {i: [] for i in ids}
    for s, t, _ in edges:
        incoming[t].append(s)
    layer: dict[str, int] = {}
    pending = {i: len(incoming[i]) for i in ids}
    ready = [i for i in ids if pending[i] == 0]
    following: dict[str, list[str]] = {i: [] for i in ids}
    for s, t, _ in edges:
        following[s].append(t)
    while ready:
        ready.sort(key=_sort_key, reverse=True)
        node = ready.pop()
        layer[node] = max((layer[p] + 1 for p in incoming[node]), default=0)
        for t in following[node]:
            pending[t] -= 1
            if pending[t] == 0:
                ready.append(t)
    return layer, edges


def layout(graph: LineageGraph) -> tuple[dict[str, _Slot], list[tuple[list[str], bool, str]], float, float]:
    """Slots with coordinates, the edges as chains of slot keys, and the drawing's size."""
    nodes = {n.id: n for n in graph.nodes}
    layer, edges = _layers(graph)
    slots: dict[str, _Slot] = {}
    for node_id in sorted(nodes, key=_sort_key):
        node = nodes[node_id]
        width = max(len(_short(node.label)), len(_subtitle(node))) * CHAR_WIDTH + 2 * PAD_X
        slots[node_id] = _Slot(node_id, layer[node_id], width, node)
    kinds = {(e.source, e.target): e.kind for e in graph.edges}
    chains: list[tuple[list[str], bool, str]] = []
    for s, t, reverse in edges:
        chain = [s]
        for crossed in range(layer[s] + 1, layer[t]):
            key = f"bend:{s}>{t}:{crossed}"
            slots[key] = _Slot(key, crossed, 0.0)
            chain.append(key)
        chain.append(t)
        for a, b in zip(chain, chain[1:], strict=False):
            slots[b].up.append(a)
            slots[a].down.append(b)
        kind = kinds.get((t, s) if reverse else (s, t), "produced")
        chains.append((chain, reverse, kind))
    columns: list[list[_Slot]] = [[] for _ in range(max((s.layer for s in slots.values()), default=0) + 1)]
    for slot in slots.values():
        columns[slot.layer].append(slot)
    for column in columns:
        for i, slot in enumerate(column):
            slot.order = float(i)
    # Barycenter sweeps: left to right by the neighbours on the left, then back by those on
    # the right. Slots with no neighbours on that side keep their place.
    for sweep in range(SWEEPS):
        sequence = columns[1:] if sweep % 2 == 0 else list(reversed(columns[:-1]))
        for column in sequence:
            for slot in column:
                near = slot.up if sweep % 2 == 0 else slot.down
                if near:
                    slot.order = sum(slots[k].order for k in near) / len(near)
            column.sort(key=lambda s: (s.order, s.node is None, _sort_key(s.key)))
            for i, slot in enumerate(column):
                slot.order = float(i)
    pitch = NODE_HEIGHT + ROW_GAP
    tallest = max((len(c) for c in columns), default=1)
    x = MARGIN
    for column in columns:
        width = max((s.width for s in column), default=0.0)
        offset = (tallest - len(column)) * pitch / 2
        for i, slot in enumerate(column):
            slot.x = x + (width - slot.width) / 2
            slot.y = MARGIN + offset + i * pitch
        x += width + COLUMN_GAP
    return slots, chains, x - COLUMN_GAP + MARGIN, MARGIN * 2 + tallest * pitch - ROW_GAP


def to_svg(graph: LineageGraph, href: Callable[[LineageNode], str | None] | None = None) -> str:
    """The graph as a standalone SVG document (see ``LineageGraph.to_svg``)."""
    slots, chains, width, height = layout(graph)
    svg = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg",
        "width": _num(width), "height": _num(height), "viewBox": f"0 0 {_num(width)} {_num(height)}",
        "role": "img", "font-family": FONT, "font-size": "12", "class": "lineage",
    })
    root = slots.get(graph.root)
    ET.SubElement(svg, "title").text = _text(f"lineage of {root.node.label if root and root.node else graph.root}")
    defs = ET.SubElement(svg, "defs")
    for kind, color in EDGE_COLORS.items():
        marker = ET.SubElement(defs, "marker", {
            "id": f"arrow-{kind}", "viewBox": "0 0 10 10", "refX": "10", "refY": "5",
            "markerWidth": "7", "markerHeight": "7", "orient": "auto-start-reverse",
        })
        ET.SubElement(marker, "path", {"d": "M0,0 L10,5 L0,10 z", "fill": color})
    edges = ET.SubElement(svg, "g", {"class": "edges", "fill": "none", "stroke-width": "1.5"})
    for chain, reverse, kind in chains:
        points = [_right(slots[k]) if i == 0 else _left(slots[k]) for i, k in enumerate(chain)]
        # A bend point is passed through: enter on its left, leave on its right (same point).
        path = _curve(points)
        attrs = {"d": path, "stroke": EDGE_COLORS.get(kind, "#666"), "class": f"edge {kind}"}
        attrs["marker-start" if reverse else "marker-end"] = f"url(#arrow-{kind})"
        element = ET.SubElement(edges, "path", attrs)
        ET.SubElement(element, "title").text = _text(f"{_label(slots[chain[0]])} {'<-' if reverse else '->'} {_label(slots[chain[-1]])}")
    layer = ET.SubElement(svg, "g", {"class": "nodes"})
    for slot in sorted((s for s in slots.values() if s.node is not None), key=lambda s: _sort_key(s.key)):
        node = slot.node
        assert node is not None
        parent = layer
        link = href(node) if href is not None else None
        if link:
            parent = ET.SubElement(layer, "a", {"href": link})
        group = ET.SubElement(parent, "g", {"class": f"node {node.kind}" + (" root" if node.id == graph.root else ""),
                                            "data-id": node.id})
        ET.SubElement(group, "title").text = _text(f"{node.label}\n{_subtitle(node)}")
        fill, stroke = COLORS.get(node.kind, ("#f4f4f4", "#666"))
        ET.SubElement(group, "rect", {
            "x": _num(slot.x), "y": _num(slot.y), "width": _num(slot.width), "height": _num(NODE_HEIGHT),
            "rx": _num(NODE_HEIGHT / 2 if node.kind == "run" else 4), "fill": fill, "stroke": stroke,
            "stroke-width": "3" if node.id == graph.root else "1.2",
            **({"stroke-dasharray": "4 3"} if node.detail.get("state") in ("deleted", "crashed") else {}),
        })
        middle = slot.x + slot.width / 2
        ET.SubElement(group, "text", {"x": _num(middle), "y": _num(slot.y + 17), "text-anchor": "middle",
                                      "fill": "#111"}).text = _text(_short(node.label))
        ET.SubElement(group, "text", {"x": _num(middle), "y": _num(slot.y + 32), "text-anchor": "middle",
                                      "fill": "#555", "font-size": "11"}).text = _text(_subtitle(node))
    return ET.tostring(svg, encoding="unicode") + "\n"


def _label(slot: _Slot) -> str:
    return slot.node.label if slot.node is not None else slot.key


def _left(slot: _Slot) -> tuple[float, float]:
    return slot.x, slot.y + NODE_HEIGHT / 2


def _right(slot: _Slot) -> tuple[float, float]:
    return slot.x + slot.width, slot.y + NODE_HEIGHT / 2


def _curve(points: list[tuple[float, float]]) -> str:
    """A smooth path through the points: one horizontal-tangent cubic per segment."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{_num(x0)},{_num(y0)}"]
    for x1, y1 in rest:
        bend = (x1 - x0) / 2
        parts.append(f"C{_num(x0 + bend)},{_num(y0)} {_num(x1 - bend)},{_num(y1)} {_num(x1)},{_num(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
