"""Folding backends: ViennaRNA MFE, the registry and ordered parallel folding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_ssrlm.data import labelling as folding
from modeling_ssrlm.data.labelling import (
    FoldingBackend,
    ViennaRNABackend,
    available_folding_backends,
    fold_many,
    get_folding_backend,
    register_folding_backend,
)
from modeling_ssrlm.secondary_structure import parse_dot_bracket


class LengthBackend(FoldingBackend):
    """A stand-in predictor whose output reveals which input it saw."""

    name = "length"

    def fold(self, sequence: str) -> str:
        return "." * len(sequence)


def test_vienna_folds_a_hairpin_in_dna_or_rna_alphabet_any_case():
    backend = get_folding_backend("vienna")
    assert backend.name == "vienna"
    assert backend.fold("GGGGAAAACCCC") == "((((....))))"
    assert backend.fold("ggggaaaacccc") == "((((....))))"
    # T is folded as U: this stem needs its four A-T pairs.
    assert backend.fold("GGGATATAGAAAACTATATCCC") == "(((((((((....)))))))))"


def test_vienna_temperature_melts_the_hairpin():
    assert ViennaRNABackend(temperature=37.0).fold("GGGGAAAACCCC") == "((((....))))"
    assert ViennaRNABackend(temperature=90.0).fold("GGGGAAAACCCC") == "............"


def test_vienna_leaves_n_unpaired_and_handles_empty_input():
    backend = ViennaRNABackend()
    assert backend.fold("GGGGAAAACCCCN") == "((((....))))."
    assert backend.fold("") == ""


@settings(max_examples=50, deadline=None)
@given(st.text("ACGTN", min_size=1, max_size=60))
def test_vienna_structures_are_balanced_and_full_length(sequence):
    structure = ViennaRNABackend().fold(sequence)
    assert len(structure) == len(sequence)
    assert set(structure) <= set("().")
    for i, j in parse_dot_bracket(structure):
        assert j - i > 3  # no hairpin loop shorter than three nucleotides


def test_registry_rejects_unknown_names_and_accepts_new_backends(monkeypatch):
    monkeypatch.setattr(folding, "_BACKENDS", dict(folding._BACKENDS))  # keep the registration local
    with pytest.raises(ValueError, match=r"unknown folding backend 'contrafold'; available: .*vienna"):
        get_folding_backend("contrafold")
    register_folding_backend("length", LengthBackend)
    assert "length" in available_folding_backends()
    assert get_folding_backend("length").fold("ACGT") == "...."


@pytest.mark.parametrize("workers", [1, 2])
def test_fold_many_keeps_input_order(workers):
    sequences = ["GGGGAAAACCCC", "ACGT", "GGGGAAAACCCCAA", "", "CCCC"]
    expected = [ViennaRNABackend().fold(s) for s in sequences]
    assert list(fold_many(iter(sequences), ViennaRNABackend(), workers=workers, chunksize=1)) == expected


def test_fold_many_rejects_zero_workers():
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        list(fold_many(["ACGU"], ViennaRNABackend(), workers=0))
