"""RNAplot structure drawings (``modeling_ssrlm.cli.structure_drawing``) and ``ssrlm predict --plot``'s SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_hex

from modeling_ssrlm import SSRLMConfig
from modeling_ssrlm.cli import main
from modeling_ssrlm.cli.structure_drawing import draw_structure, nested_part, nucleotide_confidence
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.secondary_structure import parse_dot_bracket

SVG = "{http://www.w3.org/2000/svg}"
TRNA = "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA"
TRNA_STRUCTURE = "(((((....((((.[......)))).(((((]......))))).....(((((.......)))))..)))))...."  # one pseudoknot pair


def _probabilities(length: int, pairs: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(0, 0.2, (length, length))
    for i, j in pairs:
        matrix[i, j] = rng.uniform(0.5, 1.0)
    return np.maximum(matrix, matrix.T)


def test_nested_part_keeps_the_first_bracket_page_and_returns_the_pseudoknot():
    nested, undrawn = nested_part(parse_dot_bracket(TRNA_STRUCTURE), len(TRNA))
    assert nested == TRNA_STRUCTURE.replace("[", ".").replace("]", ".")
    assert undrawn == [(14, 31)]


def test_confidence_is_the_pair_probability_or_one_minus_the_best_pair():
    probabilities = np.array([[0, 0.9, 0.1], [0.9, 0, 0.3], [0.1, 0.3, 0]])
    assert nucleotide_confidence(probabilities, [(0, 1)]) == pytest.approx([0.9, 0.9, 0.7])


def test_drawing_colours_each_drawn_pair_and_says_what_it_leaves_out():
    pairs = parse_dot_bracket(TRNA_STRUCTURE)
    probabilities = _probabilities(len(TRNA), pairs)
    drawing = draw_structure(TRNA, pairs, probabilities, "tRNA-Phe")
    root = ET.fromstring(drawing.svg.encode())
    assert root.find(f"{SVG}script") is None and "onclick" not in drawing.svg  # a static picture
    lines = root.findall(f".//{SVG}g[@id='pairs']/{SVG}line")
    drawn = sorted(tuple(int(end) - 1 for end in line.get("id").split(",")) for line in lines)
    assert drawn == sorted(set(pairs) - {(14, 31)})
    viridis = colormaps["viridis"]
    for line, (i, j) in zip(lines, (tuple(int(end) - 1 for end in line.get("id").split(",")) for line in lines)):
        assert line.get("stroke") == to_hex(viridis(probabilities[i, j]))
    assert len(root.findall(f".//{SVG}g[@id='confidence']/{SVG}circle")) == len(TRNA)
    assert [text.text for text in root.findall(f".//{SVG}g[@id='seq']/{SVG}text")] == list(TRNA)
    caption = " ".join(text.text for text in root.iter(f"{SVG}text") if text.get("class", "").startswith("caption"))
    assert "tRNA-Phe (76 nt, 20 pairs)" in caption and "1 pseudoknotted pair not drawn" in caption
    assert drawing.undrawn_pairs == [(14, 31)]
    assert drawing.inline().startswith("<svg")


@pytest.mark.parametrize("sequence", ["A", "AC", "GGGGAAACCCC"])
def test_short_and_unpaired_sequences_are_drawn_with_finite_coordinates(sequence):
    drawing = draw_structure(sequence, [], np.zeros((len(sequence),) * 2), "s")
    backbone = ET.fromstring(drawing.svg.encode()).find(f".//{SVG}polyline[@id='outline']")
    coordinates = [float(value) for point in backbone.get("points").split() for value in point.split(",")]
    assert len(coordinates) == 2 * len(sequence) and np.isfinite(coordinates).all()
    assert "pseudoknotted" not in drawing.svg


def test_predict_plot_writes_the_drawing_next_to_the_png(tmp_path, capsys):
    config = SSRLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        pair_hidden_channels=8, pair_num_blocks=1, pair_threshold=0.5,
    )  # fmt: skip
    SSRLMForPairPrediction(config).save_pretrained(tmp_path / "model")
    code = main(["predict", "GGGGAAACCCCAUAUGGGGAAACCCC", "--model", str(tmp_path / "model"), "--out", str(tmp_path / "out"), "--plot"])
    assert code == 0, capsys.readouterr().err
    structure = (tmp_path / "out" / "seq1.dbn").read_text().splitlines()[2]
    root = ET.parse(tmp_path / "out" / "seq1.svg").getroot()
    assert len(root.findall(f".//{SVG}g[@id='pairs']/{SVG}line")) == structure.count("(")
    assert (tmp_path / "out" / "seq1.png").is_file()
