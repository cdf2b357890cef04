"""``LineageGraph.to_svg()`` and ``artreg lineage --format svg``: a layered DAG drawn on the server."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import artreg
from artreg import cli
from conftest import make

SVG = "{http://www.w3.org/2000/svg}"


def nodes(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return {g.attrib["data-id"]: g for g in root.iter(f"{SVG}g") if "data-id" in g.attrib}


def boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    found = {}
    for node_id, group in nodes(svg).items():
        rect = group.find(f"{SVG}rect")
        assert rect is not None
        found[node_id] = tuple(float(rect.attrib[k]) for k in ("x", "y", "width", "height"))
    return found  # type: ignore[return-value]


@pytest.fixture
def graph(reg: artreg.Registry) -> artreg.ArtifactVersion:
    """raw -> prep -> clean -> train x3 -> models; eval uses raw (a long edge) and a model."""
    with reg.init("zoo", job_type="prep", name="<script>alert('run')</script>") as run:
        run.use_artifact(reg.log_artifact(make("raw", a="0"), project="zoo"))
        clean = run.log_artifact(make("clean", a="1"))
    for i in range(3):
        with reg.init("zoo", job_type="train") as run:
            run.use_artifact(clean)
            model = run.log_artifact(make(f"model{i}", "model", a=f"m{i}"))
    with reg.init("zoo", job_type="eval") as run:
        run.use_artifact(reg.artifact("zoo/raw:v0"))
        run.use_artifact(model)
        run.log_artifact(make("report", a="r"))
    return clean


def test_every_node_is_drawn_once_left_to_right_without_overlaps(graph: artreg.ArtifactVersion) -> None:
    lineage = graph.lineage()
    svg = lineage.to_svg()
    drawn = boxes(svg)
    assert set(drawn) == {n.id for n in lineage.nodes}
    for edge in lineage.edges:  # every edge points right: the layers follow the DAG
        assert drawn[edge.source][0] + drawn[edge.source][2] < drawn[edge.target][0]
    placed = list(drawn.values())
    for i, (x, y, w, h) in enumerate(placed):
        for x2, y2, w2, h2 in placed[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y, "two nodes overlap"
    root = ET.fromstring(svg)
    assert len(root.findall(f".//{SVG}path[@class]")) == len(lineage.edges)
    assert float(root.attrib["width"]) >= max(x + w for x, _, w, _ in placed)


def test_labels_are_escaped_and_the_output_is_deterministic(graph: artreg.ArtifactVersion) -> None:
    svg = graph.lineage().to_svg()
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "zoo/<script>alert('run')</script>"[:39] in "".join(t or "" for t in texts)  # long labels are shortened…
    titles = [t.text for t in ET.fromstring(svg).iter(f"{SVG}title")]
    assert any(t and t.startswith("zoo/<script>alert('run')</script>") for t in titles)  # …and whole in the tooltip
    assert svg == graph.lineage().to_svg()
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing outside the document


def test_links_and_a_cycle(reg: artreg.Registry) -> None:
    with reg.init("p", job_type="loop") as run:
        v = run.log_artifact(make(a="1"))
        run.use_artifact(v)  # the run uses its own output: a cycle
    svg = v.lineage().to_svg(href=lambda n: f"/versions/{n.label}" if n.kind == "version" else None)
    root = ET.fromstring(svg)
    links = [a.attrib["href"] for a in root.iter(f"{SVG}a")]
    assert links == ["/versions/p/ds:v0"]
    assert len(boxes(svg)) == 2 and len(root.findall(f".//{SVG}path[@class]")) == 2


def test_cli_lineage_format_svg(graph: artreg.ArtifactVersion, catalog: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--registry", catalog, "lineage", "zoo/clean", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<svg ") and len(nodes(out)) == len(graph.lineage().nodes)
