"""Long RNAs through the ``ssrlm predict`` writers: every 16S and 23S rRNA of ArchiveII (950–2,968 nt).

The true structures are written as dot-bracket and JSON by the CLI (the model replaced by the truth)
and must read back exactly; the shipped model then predicts one 1,200-nt 16S rRNA end to end (before
the dot-bracket writer learned to leave pairs out, its prediction for this sequence crashed the CLI).
The CT files are read straight from ``../shared/data/archiveII/archiveII.tar.gz``.
"""

from __future__ import annotations

import json
import tarfile

import pytest
from conftest import SHARED_DATA

from modeling_ssrlm import cli
from modeling_ssrlm.cli import main
from modeling_ssrlm.modeling_ssrlm_pair import PairPrediction
from modeling_ssrlm.secondary_structure import parse_dot_bracket, read_ct

ARCHIVE = SHARED_DATA / "archiveII" / "archiveII.tar.gz"

pytestmark = pytest.mark.skipif(
    not ARCHIVE.is_file(), reason=f"ArchiveII not found at {ARCHIVE} (the shared data folder ../shared/data is absent)"
)


@pytest.fixture(scope="module")
def rrnas() -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """``{name: (sequence, true pairs)}`` for the 27 full-length 16S and 23S rRNAs (not their domains)."""
    structures = {}
    with tarfile.open(ARCHIVE) as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if name.endswith(".ct") and name.startswith(("16s_", "23s_")) and "_domain" not in name:
                structures[name.removesuffix(".ct")] = read_ct(archive.extractfile(member))
    assert len(structures) == 27
    return structures


@pytest.fixture
def truth_as_model(monkeypatch, rrnas):
    """Make ``ssrlm predict`` answer with the true structure of each rRNA instead of running a model."""
    truth = {sequence.replace("U", "T"): pairs for sequence, pairs in rrnas.values()}  # the CLI's normal form
    monkeypatch.setattr(cli, "load_model", lambda *args: None)
    monkeypatch.setattr(
        cli, "predict_structures", lambda model, sequences, *_: [PairPrediction(s, None, truth[s]) for s in sequences]
    )


def _fasta(tmp_path, rrnas):
    path = tmp_path / "rrnas.fa"
    path.write_text("".join(f">{name}\n{sequence}\n" for name, (sequence, _) in rrnas.items()))
    return path


def test_true_rrna_structures_as_dot_bracket(capsys, tmp_path, rrnas, truth_as_model):
    assert main(["predict", str(_fasta(tmp_path, rrnas))]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # nothing left out, nothing to note
    lines = captured.out.splitlines()
    assert [line[1:] for line in lines[0::3]] == list(rrnas)
    for (sequence, pairs), structure in zip(rrnas.values(), lines[2::3]):
        assert len(structure) == len(sequence) and parse_dot_bracket(structure) == pairs


def test_true_rrna_structures_as_json_files(capsys, tmp_path, rrnas, truth_as_model):
    out_dir = tmp_path / "json"
    assert main(["predict", str(_fasta(tmp_path, rrnas)), "--format", "json", "--out", str(out_dir)]) == 0
    assert capsys.readouterr().err == ""
    for name, (sequence, pairs) in rrnas.items():
        record = json.loads((out_dir / f"{name}.json").read_text())
        assert record["sequence"] == sequence and record["pairs_not_in_structure"] == []
        assert [tuple(pair) for pair in record["pairs"]] == pairs == parse_dot_bracket(record["structure"])


def test_shipped_model_on_a_1200_nt_16s_rrna(capsys, tmp_path, rrnas, monkeypatch):
    monkeypatch.delenv("SSRLM_MODEL", raising=False)
    sequence, _ = rrnas["16s_C.reinhardtii.mito"]
    assert main(["predict", sequence, "--format", "json", "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    placed = parse_dot_bracket(record["structure"])
    assert len(record["structure"]) == 1200
    assert sorted(placed + [tuple(p) for p in record["pairs_not_in_structure"]]) == [tuple(p) for p in record["pairs"]]
