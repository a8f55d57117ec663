"""Secondary-structure drawings (SVG) laid out by ViennaRNA's RNAplot and coloured by model confidence.

The layout and the drawing come from ViennaRNA (``RNA.plot_structure_svg`` with the naview layout of
RNAplot): this module has no layout code. It only restyles what RNAplot drew: each base-pair line is
coloured by the model's probability for that pair and a disc under each nucleotide by the model's
confidence in that nucleotide's state, and a title, a colour bar and a caption are added below.

RNAplot draws nested structures only. The pairs on the first bracket page of the dot-bracket (``()``,
see :func:`~modeling_ssrlm.secondary_structure.format_dot_bracket`) are drawn; pseudoknotted pairs
(``[]``, ``{}``, ... pages) are left out and the caption says how many, so a drawing never passes for
the whole structure. The dot-bracket, BPSEQ, CT and JSON outputs list every pair.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
COLOUR_MAP = "viridis"  # the colour map of the probability map in the PNG figure (``draw_prediction``)
CAPTION_HEIGHT = 74  # pixels added under RNAplot's drawing for the title, colour bar and caption
STYLE = """
.nucleotide { font-family: sans-serif; font-size: 9px; fill: #111; text-anchor: middle; dominant-baseline: central; }
.backbone { stroke: #9a9a9a; fill: none; stroke-width: 1.2; }
.basepairs { fill: none; stroke-width: 2.4; stroke-linecap: round; }
.confidence { stroke: none; fill-opacity: 0.55; }
.caption { font-family: sans-serif; font-size: 12px; fill: #222; }
.caption-small { font-family: sans-serif; font-size: 10px; fill: #444; }
"""

ET.register_namespace("", SVG_NAMESPACE)


@dataclass
class StructureDrawing:
    """An SVG document and the pairs it leaves out (pseudoknots, which RNAplot cannot draw)."""

    svg: str
    undrawn_pairs: list[tuple[int, int]]

    def inline(self) -> str:
        """The SVG element alone (no XML declaration), for embedding in an HTML page."""
        return self.svg.split("?>", 1)[1].lstrip() if self.svg.startswith("<?xml") else self.svg


def nested_part(pairs: list[tuple[int, int]], length: int) -> tuple[str, list[tuple[int, int]]]:
    """The dot-bracket of the pairs RNAplot can draw (the ``()`` page) and the pairs it cannot (sorted)."""
    from ..secondary_structure import format_dot_bracket

    structure, _ = format_dot_bracket(pairs, length)
    nested = "".join(char if char in "()" else "." for char in structure)
    openings = {i for i, char in enumerate(nested) if char == "("}
    return nested, sorted((int(i), int(j)) for i, j in pairs if i not in openings)


def nucleotide_confidence(probabilities: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Per nucleotide, the model's probability for its predicted state: ``P(i, j)`` for a base paired
    with ``j``, ``1 − max_j P(i, j)`` for an unpaired one (the pair probabilities are independent, so
    the strongest competing pair is the measure of doubt)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = 1.0 - probabilities.max(axis=1, initial=0.0)
    for i, j in pairs:
        confidence[i] = confidence[j] = probabilities[i, j]
    return np.clip(confidence, 0.0, 1.0)


def draw_structure(sequence: str, pairs: list[tuple[int, int]], probabilities: np.ndarray, title: str) -> StructureDrawing:
    """RNAplot's drawing of the nested part of ``pairs``, coloured by ``probabilities`` (``L × L``).

    ``sequence`` is drawn as given (callers pass the RNA alphabet); ``title`` goes under the drawing.
    """
    nested, undrawn = nested_part(pairs, len(sequence))
    root = ET.fromstring(_rnaplot_svg(sequence, nested))
    _remove_script(root)
    _set_style(root)
    drawing = root.find(f"{{{SVG_NAMESPACE}}}g")
    _colour_pairs(drawing, probabilities)
    _add_confidence_discs(drawing, nucleotide_confidence(probabilities, pairs))
    _add_caption(root, title, len(sequence), len(pairs), len(undrawn))
    text = ET.tostring(root, encoding="unicode")
    return StructureDrawing('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n", undrawn)


def _rnaplot_svg(sequence: str, structure: str) -> str:
    """RNAplot's SVG text for a nested ``structure``: naview layout (simple for one nucleotide, which
    naview places at NaN). ViennaRNA writes only to a file, so it writes into a private temporary folder."""
    import RNA

    layout = RNA.plot_layout_naview(structure) if len(sequence) > 1 else RNA.plot_layout_simple(structure)
    with tempfile.TemporaryDirectory(prefix="ssrlm-rnaplot-") as folder:
        path = os.path.join(folder, "structure.svg")
        if not RNA.plot_structure_svg(path, sequence, structure, layout):
            raise RuntimeError(f"ViennaRNA could not draw a structure of {len(sequence)} nt")
        with open(path, encoding="utf-8") as handle:
            return handle.read()


def _tag(name: str) -> str:
    return f"{{{SVG_NAMESPACE}}}{name}"


def _remove_script(root: ET.Element) -> None:
    """Drop RNAplot's click-to-hide-the-letters script: the drawing is a static picture."""
    for script in root.findall(_tag("script")):
        root.remove(script)
    for element in root.iter():
        element.attrib.pop("onclick", None)


def _set_style(root: ET.Element) -> None:
    """Replace RNAplot's style sheet (red pairs, a font name browsers do not know) with ours, which
    centres each letter on its nucleotide's point (RNAplot shifts the letters by a fixed offset instead)."""
    style = root.find(_tag("style"))
    style.text = STYLE
    style.attrib.pop("type", None)
    root.find(f"{_tag('g')}/{_tag('g')}[@id='seq']").attrib.pop("transform")


def _colours(values: np.ndarray) -> list[str]:
    """Hex colours of ``values`` in ``[0, 1]`` on :data:`COLOUR_MAP`."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return [to_hex(colour) for colour in colormaps[COLOUR_MAP](np.clip(values, 0.0, 1.0))]


def _colour_pairs(drawing: ET.Element, probabilities: np.ndarray) -> None:
    """Stroke each of RNAplot's base-pair lines (``id="i,j"``, 1-based) with the colour of ``P(i, j)``."""
    lines = drawing.findall(f"{_tag('g')}[@id='pairs']/{_tag('line')}")
    ends = [tuple(int(position) - 1 for position in line.get("id").split(",")) for line in lines]
    for line, colour in zip(lines, _colours(np.array([probabilities[i, j] for i, j in ends]))):
        line.set("stroke", colour)


def _add_confidence_discs(drawing: ET.Element, confidence: np.ndarray) -> None:
    """A disc under each of RNAplot's nucleotides (the backbone's points), coloured by ``confidence``."""
    backbone = drawing.find(f"{_tag('polyline')}[@id='outline']")
    points = [point.split(",") for point in backbone.get("points").split()]
    discs = ET.Element(_tag("g"), id="confidence")
    for (x, y), colour, value in zip(points, _colours(confidence), confidence):
        disc = ET.SubElement(discs, _tag("circle"), {"class": "confidence", "cx": x, "cy": y, "r": "6.5", "fill": colour})
        ET.SubElement(disc, _tag("title")).text = f"confidence {value:.2f}"
    letters = list(drawing).index(drawing.find(f"{_tag('g')}[@id='seq']"))
    drawing.insert(letters, discs)


def _add_caption(root: ET.Element, title: str, length: int, pairs: int, undrawn: int) -> None:
    """Grow the canvas by :data:`CAPTION_HEIGHT` and write, under the drawing, the title, a colour bar
    for the confidence scale and, when pairs were left out, how many and why."""
    width, height = float(root.get("width")), float(root.get("height"))
    root.set("height", f"{height + CAPTION_HEIGHT:g}")
    root.set("viewBox", f"0 0 {width:g} {height + CAPTION_HEIGHT:g}")
    background = root.find(_tag("rect"))
    background.set("height", f"{height + CAPTION_HEIGHT:g}")
    caption = ET.SubElement(root, _tag("g"), id="caption", transform=f"translate(12,{height + 4:g})")
    text = ET.SubElement(caption, _tag("text"), {"class": "caption", "x": "0", "y": "12"})
    text.text = f"{_shorten(title, 48)} ({length} nt, {pairs} pairs)"
    _add_colour_bar(caption, y=22)
    if undrawn:
        note = ET.SubElement(caption, _tag("text"), {"class": "caption-small", "x": "0", "y": "64"})
        note.text = f"{undrawn} pseudoknotted pair{'s' if undrawn > 1 else ''} not drawn (RNAplot draws nested pairs only)"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _add_colour_bar(caption: ET.Element, y: float) -> None:
    """A 0–1 gradient of :data:`COLOUR_MAP` with its label."""
    gradient = ET.SubElement(ET.SubElement(caption, _tag("defs")), _tag("linearGradient"), id="confidence-scale")
    for stop, colour in zip(np.linspace(0, 1, 11), _colours(np.linspace(0, 1, 11))):
        ET.SubElement(gradient, _tag("stop"), {"offset": f"{stop:.1f}", "stop-color": colour})
    ET.SubElement(caption, _tag("rect"), {"x": "0", "y": f"{y:g}", "width": "120", "height": "10", "fill": "url(#confidence-scale)"})
    for x, label, anchor in ((0, "0", "start"), (120, "1", "end")):
        tick = ET.SubElement(caption, _tag("text"), {"class": "caption-small", "x": str(x), "y": f"{y + 22:g}", "text-anchor": anchor})
        tick.text = label
    label = ET.SubElement(caption, _tag("text"), {"class": "caption-small", "x": "130", "y": f"{y + 9:g}"})
    label.text = "model confidence (pairs: pair probability;"
    second = ET.SubElement(caption, _tag("text"), {"class": "caption-small", "x": "130", "y": f"{y + 21:g}"})
    second.text = "unpaired bases: 1 − their best pair probability)"
