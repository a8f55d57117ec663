"""Thermodynamic prior channels, their cache and the ViennaRNA decoders (modeling_ssrlm/thermodynamics.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

RNA = pytest.importorskip("RNA")

from modeling_ssrlm import thermodynamics
from modeling_ssrlm.secondary_structure import base_pair_type, pairs_to_matrix, parse_dot_bracket
from modeling_ssrlm.thermodynamics import (
    BPP_CUTOFF,
    PRIOR_CHANNELS,
    PriorCache,
    add_confident_pairs,
    add_stacked_noncanonical_pairs,
    compute_prior_channels,
    compute_prior_channels_many,
    decode_with_vienna,
    energy_parameters,
    stacked_noncanonical_candidates,
    validate_channels,
)
from modeling_ssrlm.tokenization_ssrlm import normalize_sequence

SEQUENCES = [
    "GGGAAAUCCCGCGCAUAGCGCAUGCAUCGAUGCAUGCAGCUAGCUAGCAUCGAUGCAUGCGCGAUAUAUGCGC",
    "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA",
]
HAIRPIN = "GGGGAAAACCCC"


def direct_vienna(parameter_set: str, sequences: list[str]) -> list[tuple[np.ndarray, list]]:
    """Dense upper-triangle bpp and MFE pairs from a plain ViennaRNA call in a fresh process.

    A fresh process loads only ``parameter_set``, so the reference does not depend on this
    module's handling of ViennaRNA's global parameter state.
    """
    loader = thermodynamics.PARAMETER_SETS[parameter_set]
    script = textwrap.dedent(
        f"""
        import json, RNA
        RNA.{loader}()
        out = []
        for sequence in {sequences!r}:
            compound = RNA.fold_compound(sequence)
            structure, energy = compound.mfe()
            compound.exp_params_rescale(energy)
            compound.pf()
            out.append([structure, compound.bpp()])
        print(json.dumps(out))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return [(np.array(bpp, dtype=np.float64)[1:, 1:], parse_dot_bracket(structure)) for structure, bpp in json.loads(result.stdout)]


@pytest.mark.parametrize("parameter_set", ["turner2004", "andronescu2007", "langdon2018"])
def test_channels_equal_a_direct_vienna_call(parameter_set):
    references = direct_vienna(parameter_set, SEQUENCES)
    for sequence, (upper_bpp, mfe_pairs) in zip(SEQUENCES, references):
        bpp, mfe = compute_prior_channels(sequence, [f"bpp:{parameter_set}", f"mfe:{parameter_set}"])
        expected = np.triu(upper_bpp, k=1).astype(np.float32)
        expected[expected < BPP_CUTOFF] = 0.0
        np.testing.assert_array_equal(bpp, expected + expected.T)
        np.testing.assert_array_equal(mfe, pairs_to_matrix(mfe_pairs, len(sequence)))


def test_parameter_sets_really_differ_and_channel_order_is_kept():
    channels = ["bpp:turner2004", "bpp:andronescu2007", "mfe:turner1999", "bpp:turner1999"]
    priors = compute_prior_channels(SEQUENCES[0], channels)
    assert priors.shape == (4, len(SEQUENCES[0]), len(SEQUENCES[0])) and priors.dtype == np.float32
    assert not np.array_equal(priors[0], priors[1]) and not np.array_equal(priors[0], priors[3])
    np.testing.assert_array_equal(priors[2], compute_prior_channels(SEQUENCES[0], ["mfe:turner1999"])[0])
    for matrix in priors:
        np.testing.assert_array_equal(matrix, matrix.T)
        assert np.all(np.diag(matrix) == 0)


def test_default_parameters_are_restored_after_other_sets():
    def default_energies():
        """MFE and ensemble energy of fold compounds built without and with explicit model details."""
        energies = []
        for details in (RNA.md(), None):
            compound = RNA.fold_compound(SEQUENCES[0]) if details is None else RNA.fold_compound(SEQUENCES[0], details)
            _, energy = compound.mfe()
            compound.exp_params_rescale(energy)
            energies += [energy, compound.pf()[1]]
        return energies

    before = default_energies()
    compute_prior_channels(SEQUENCES[0], ["mfe:andronescu2007", "bpp:langdon2018"])
    assert default_energies() == before
    with pytest.raises(RuntimeError):
        with energy_parameters("turner1999"):
            raise RuntimeError("inside the block")
    assert default_energies() == before
    assert RNA.last_parameter_file() == "RNA - Turner 2004"


def test_n_and_other_letters_never_pair_and_t_reads_as_u():
    sequence = "GGGGNNNNCCCCAGGGGRAAACCCCU"
    for matrix in compute_prior_channels(sequence, ["bpp:turner2004", "mfe:turner2004"]):
        unknown = [k for k, base in enumerate(sequence) if base in "NR"]
        assert not matrix[unknown].any() and not matrix[:, unknown].any()
    assert compute_prior_channels("GGGGNNNNCCCC", ["mfe:turner2004"])[0].sum() == 8  # the 4-pair stem
    rna = compute_prior_channels("GGGGAAAUCCCC", PRIOR_CHANNELS)
    np.testing.assert_array_equal(compute_prior_channels("GGGGAAATCCCC", PRIOR_CHANNELS), rna)
    np.testing.assert_array_equal(compute_prior_channels(normalize_sequence("ggggaaauccc c"), PRIOR_CHANNELS), rna)


def test_degenerate_lengths_and_bad_input():
    assert compute_prior_channels("A", ["bpp:turner2004", "mfe:turner2004"]).tolist() == [[[0.0]], [[0.0]]]
    assert compute_prior_channels("", ["bpp:turner2004"]).shape == (1, 0, 0)
    assert compute_prior_channels("ACGUACGU", []).shape == (0, 8, 8)
    assert not compute_prior_channels("AAAAAAAAAA", ["mfe:turner2004"]).any()  # no pair at all
    with pytest.raises(ValueError, match="invalid character '-' at position 2"):
        compute_prior_channels("AC-GU", ["bpp:turner2004"])
    with pytest.raises(ValueError, match=r"unknown prior channel\(s\) \['bpp:turner2020'\]; known channels: bpp:turner2004"):
        compute_prior_channels("ACGU", ["bpp:turner2020"])
    with pytest.raises(ValueError, match="must not repeat"):
        validate_channels(["mfe:turner2004", "mfe:turner2004"])
    with pytest.raises(ValueError, match="not the string"):
        validate_channels("bpp:turner2004")


# --------------------------------------------------------------------------- cache


def count_folds(monkeypatch) -> list[str]:
    """Record every call of ViennaRNA folding made through ``thermodynamics.vienna_fold``."""
    calls, original = [], thermodynamics.vienna_fold

    def counting(sequence, parameter_set, *args, **kwargs):
        calls.append(parameter_set)
        return original(sequence, parameter_set, *args, **kwargs)

    monkeypatch.setattr(thermodynamics, "vienna_fold", counting)
    return calls


def test_cache_is_read_back_without_folding_and_equals_the_direct_call(tmp_path, monkeypatch):
    channels = ["bpp:turner2004", "mfe:turner2004", "bpp:andronescu2007"]
    calls = count_folds(monkeypatch)
    first = list(compute_prior_channels_many(SEQUENCES, channels, cache_dir=tmp_path))
    assert sorted(calls) == ["andronescu2007", "andronescu2007", "turner2004", "turner2004"]
    assert len(list(tmp_path.rglob("*.npz"))) == 6 and not list(tmp_path.rglob("*.tmp"))
    calls.clear()
    second = list(compute_prior_channels_many(SEQUENCES, channels, cache_dir=tmp_path))
    assert calls == []
    for sequence, cached, computed in zip(SEQUENCES, second, first):
        np.testing.assert_array_equal(cached, computed)
        np.testing.assert_array_equal(cached, compute_prior_channels(sequence, channels))
    # a channel set that shares one cached channel folds only for the new one
    calls.clear()
    list(compute_prior_channels_many(SEQUENCES[:1], ["mfe:turner2004", "mfe:langdon2018"], cache_dir=tmp_path))
    assert calls == ["langdon2018"]


def test_corrupt_or_foreign_cache_entries_are_recomputed(tmp_path, monkeypatch):
    cache = PriorCache(tmp_path)
    rna = SEQUENCES[0]
    expected = compute_prior_channels(rna, ["bpp:turner2004"])
    list(compute_prior_channels_many([rna], ["bpp:turner2004"], cache_dir=tmp_path))
    path = cache.path(rna, "bpp:turner2004")
    calls = count_folds(monkeypatch)
    for damage in (lambda: path.write_bytes(path.read_bytes()[:100]), lambda: path.write_bytes(b"junk")):
        damage()
        assert cache.load(rna, "bpp:turner2004") is None
        [priors] = compute_prior_channels_many([rna], ["bpp:turner2004"], cache_dir=tmp_path)
        np.testing.assert_array_equal(priors[0], expected[0])
        np.testing.assert_array_equal(cache.load(rna, "bpp:turner2004"), expected[0])  # rewritten
    assert calls == ["turner2004", "turner2004"]
    # an entry written for another sequence under this key is not trusted
    cache.store("GGGGAAAACCCC", "bpp:turner2004", compute_prior_channels(HAIRPIN, ["bpp:turner2004"])[0])
    path.write_bytes(cache.path("GGGGAAAACCCC", "bpp:turner2004").read_bytes())
    assert cache.load(rna, "bpp:turner2004") is None


def test_cache_key_depends_on_channel_sequence_and_version(tmp_path):
    cache = PriorCache(tmp_path)
    assert cache.version == RNA.__version__
    keys = {
        cache.key(HAIRPIN, "bpp:turner2004"),
        cache.key(HAIRPIN, "mfe:turner2004"),
        cache.key(HAIRPIN, "bpp:turner1999"),
        cache.key(HAIRPIN + "A", "bpp:turner2004"),
        PriorCache(tmp_path, version="2.6.4").key(HAIRPIN, "bpp:turner2004"),
    }
    assert len(keys) == 5


def test_cache_entries_are_sparse(tmp_path):
    sequence = SEQUENCES[1]
    list(compute_prior_channels_many([sequence], ["bpp:turner2004", "mfe:turner2004"], cache_dir=tmp_path))
    cache = PriorCache(tmp_path)
    dense_bytes = 4 * len(sequence) ** 2
    assert cache.path(sequence, "bpp:turner2004").stat().st_size < dense_bytes / 2
    assert cache.path(sequence, "mfe:turner2004").stat().st_size < dense_bytes / 10


def test_worker_pool_gives_the_in_process_result(tmp_path):
    sequences = [HAIRPIN, SEQUENCES[0], "ACGUN"]
    # channels of two parameter sets, interleaved: jobs are (sequence, parameter set), results in channel order
    channels = ["bpp:turner1999", "mfe:turner2004", "mfe:turner1999"]
    direct = [compute_prior_channels(sequence, channels) for sequence in sequences]
    pooled = list(compute_prior_channels_many(sequences, channels, workers=2))
    streamed = list(compute_prior_channels_many(iter(sequences), channels))  # a generator, in this process
    single = list(compute_prior_channels_many([SEQUENCES[0]], channels, workers=3, cache_dir=tmp_path))
    for expected, got_pooled, got_streamed in zip(direct, pooled, streamed, strict=True):
        np.testing.assert_array_equal(got_pooled, expected)
        np.testing.assert_array_equal(got_streamed, expected)
    np.testing.assert_array_equal(single[0], direct[1])
    assert len(list(tmp_path.rglob("*.npz"))) == 3  # the workers stored every channel
    assert list(compute_prior_channels_many([], channels, workers=2)) == []
    [empty] = compute_prior_channels_many(["ACGU"], [])
    assert empty.shape == (0, 4, 4)
    with pytest.raises(ValueError, match="workers"):
        next(compute_prior_channels_many(sequences, ["bpp:turner1999"], workers=0))


# --------------------------------------------------------------------------- decoders


def assert_valid(pairs, sequence, min_loop_length=3):
    bases = [base for pair in pairs for base in pair]
    assert len(bases) == len(set(bases)), "a base has two partners"
    assert all(0 <= i < j < len(sequence) and j - i > min_loop_length for i, j in pairs)


def crossing(pairs):
    return [(a, b) for a in pairs for b in pairs if a[0] < b[0] < a[1] < b[1]]


@pytest.mark.parametrize("method", ["mfe", "mea"])
def test_vienna_decoders_give_valid_nested_canonical_structures(method):
    sequence = SEQUENCES[1]
    generator = np.random.default_rng(0)
    probabilities = generator.random((len(sequence), len(sequence)))
    probabilities = (probabilities + probabilities.T) / 2
    pairs = decode_with_vienna(probabilities, sequence, method, threshold=1.0)  # no pseudoknot pass
    assert pairs and not crossing(pairs)
    assert_valid(pairs, sequence)
    assert all(base_pair_type(sequence[i], sequence[j]) != "noncanonical" for i, j in pairs)


@pytest.mark.parametrize("method", ["mfe", "mea"])
def test_confident_network_pairs_override_the_energy_model(method):
    # ViennaRNA folds this into two hairpins; the network insists on one outer stem.
    sequence = "GGGGAAAACCCCAAGGGGAAAACCCC"
    assert RNA.fold(sequence)[0] == "((((....))))..((((....))))"
    wanted = [(0, 25), (1, 24), (2, 23), (3, 22)]
    probabilities = np.full((len(sequence), len(sequence)), 0.01)
    for i, j in wanted:
        probabilities[i, j] = probabilities[j, i] = 0.99
    assert decode_with_vienna(probabilities, sequence, method, scale=1.0) == wanted
    # and with a weak scale the energy model wins again
    assert decode_with_vienna(probabilities, sequence, method, transform="probability", scale=0.01) != wanted


def test_pseudoknot_pass_adds_confident_canonical_crossing_pairs_only():
    sequence = "GGGAAACCCAAAAGUCAAAAAAAAAGAC"
    nested = [(0, 8), (1, 7), (2, 6)]
    probabilities = np.zeros((len(sequence), len(sequence)))
    confident = {(4, 15): 0.95, (3, 14): 0.9, (5, 16): 0.8, (10, 20): 0.99, (2, 26): 0.97}
    for (i, j), p in confident.items():
        probabilities[i, j] = probabilities[j, i] = p
    # (4,15) A-C and (3,14) A-U cross the stem; (5,16) A-A is non-canonical; (10,20) crosses nothing;
    # (2,26) reuses a paired base.
    assert add_confident_pairs(nested, probabilities, sequence, 0.5, canonical_only=True, min_loop_length=3) == [
        (0, 8), (1, 7), (2, 6), (3, 14)
    ]
    relaxed = add_confident_pairs(nested, probabilities, sequence, 0.5, canonical_only=False, min_loop_length=3)
    assert relaxed == [(0, 8), (1, 7), (2, 6), (3, 14), (4, 15), (5, 16)]
    assert_valid(relaxed, sequence)
    assert add_confident_pairs(nested, probabilities, sequence, 0.92, canonical_only=False, min_loop_length=3) == [
        (0, 8), (1, 7), (2, 6), (4, 15)
    ]
    # without crossing_only, the confident A-A pair (10, 20) that crosses nothing is added too
    any_pair = add_confident_pairs(
        nested, probabilities, sequence, 0.5, canonical_only=False, min_loop_length=3, crossing_only=False
    )
    assert any_pair == [(0, 8), (1, 7), (2, 6), (3, 14), (4, 15), (5, 16), (10, 20)]
    assert_valid(any_pair, sequence)


def test_noncanonical_pass_adds_only_noncanonical_pairs_on_free_bases():
    # a stem (0-3 with 15-18) whose inner loop holds non-canonical pairs no energy model gives
    sequence = "GGGGAAGAAUAAAGACCCC"
    nested = [(0, 18), (1, 17), (2, 16), (3, 15)]
    probabilities = np.zeros((len(sequence), len(sequence)))
    confident = {(4, 14): 0.3, (6, 12): 0.25, (5, 13): 0.05, (3, 14): 0.9, (9, 13): 0.99}
    for (i, j), p in confident.items():
        probabilities[i, j] = probabilities[j, i] = p
    # (4,14) A·A and (6,12) G·A: non-canonical, above 0.2, bases free -> added;
    # (5,13) A·G: below the threshold; (3,14) G·A: base 3 is paired; (9,13) U-G: canonical, not this pass's.
    added = add_confident_pairs(
        nested, probabilities, sequence, 0.2, canonical_only=False, min_loop_length=3, crossing_only=False,
        noncanonical_only=True,
    )
    assert added == sorted(nested + [(4, 14), (6, 12)])
    assert_valid(added, sequence)
    with pytest.raises(ValueError, match="exclude"):
        add_confident_pairs(nested, probabilities, sequence, 0.2, True, 3, noncanonical_only=True)


def test_decode_with_vienna_noncanonical_threshold_is_a_third_pass():
    sequence = "GGGGAAAGAAAAGACCCC"  # stem 0-3 / 14-17; the G·A pair (7, 12) is non-canonical
    stem = [(k, 17 - k) for k in range(4)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in stem:
        probabilities[i, j] = probabilities[j, i] = 0.95
    probabilities[7, 12] = probabilities[12, 7] = 0.3
    without = decode_with_vienna(probabilities, sequence, "mfe", threshold=0.5, scale=1.0)
    assert without == stem, "no energy model and no pseudoknot pass gives a G·A pair"
    assert decode_with_vienna(probabilities, sequence, "mfe", threshold=0.5, scale=1.0, noncanonical_threshold=0.2) == (
        sorted(stem + [(7, 12)])
    )
    assert decode_with_vienna(probabilities, sequence, "mfe", threshold=0.5, scale=1.0, noncanonical_threshold=0.4) == stem


def test_stacked_noncanonical_pass_adds_helix_end_and_internal_loop_mismatches_only():
    # stem A 0-2 / 20-22, stem B 4-6 / 16-18: base 3 and base 19 face each other (a 1x1 loop),
    # (7, 15) continues stem B inwards, (23, 24) lie outside; probabilities by hand
    sequence = "GGGAGGGAAAAAAAAACCCGCCCAA"
    nested = [(0, 22), (1, 21), (2, 20), (4, 18), (5, 17), (6, 16)]
    probabilities = np.zeros((len(sequence), len(sequence)))
    confident = {(3, 19): 0.05, (7, 15): 0.04, (8, 14): 0.9, (9, 13): 0.5, (3, 23): 0.6}
    for (i, j), p in confident.items():
        probabilities[i, j] = probabilities[j, i] = p
    # (3,19) A·G fills the 1x1 loop (stacks on (2,20) and (4,18)); (7,15) A·A stacks on (6,16);
    # (8,14) A·A is confident but stacks on no decoded pair (the pass never stacks on its own pairs);
    # (3,23) A·A stacks on nothing either.
    added = add_stacked_noncanonical_pairs(nested, probabilities, sequence, 0.01)
    assert added == sorted(nested + [(3, 19), (7, 15)])
    assert_valid(added, sequence)
    assert add_stacked_noncanonical_pairs(nested, probabilities, sequence, 0.045) == sorted(nested + [(3, 19)])
    # a canonical candidate is not this pass's; nor is a pair closing fewer than two bases
    assert add_stacked_noncanonical_pairs([(0, 10)], np.ones((11, 11)), "GCAAAAAAAUC", 0.5) == [(0, 10), (1, 9)]
    assert add_stacked_noncanonical_pairs([(0, 5)], np.ones((6, 6)), "GAAAAC", 0.5) == [(0, 5), (1, 4)]
    assert add_stacked_noncanonical_pairs([(0, 4)], np.ones((5, 5)), "GAAAC", 0.5) == [(0, 4)]
    assert add_stacked_noncanonical_pairs([(0, 5)], np.ones((6, 6)), "GGAAUC", 0.5) == [(0, 5)]  # G-U is canonical


def test_stacked_noncanonical_candidates_are_the_helix_neighbours_that_no_energy_model_pairs():
    # stem 0-2 / 20-22 and stem 4-6 / 16-18 as in the pass test: (3, 19) fills the 1x1 loop, (7, 15)
    # continues stem B; (23, -1) is out of range; canonical neighbours are not candidates
    sequence = "GGGAGGGAAAAAAAAACCCGCCCAA"
    nested = [(0, 22), (1, 21), (2, 20), (4, 18), (5, 17), (6, 16)]
    assert stacked_noncanonical_candidates(nested, sequence) == [(3, 19), (7, 15)]
    assert stacked_noncanonical_candidates([(0, 9)], "GUAAAAAAUC") == [(1, 8)]  # U·U
    assert stacked_noncanonical_candidates([(0, 9)], "GAAAAAAAUC") == []  # (1, 8) A-U is canonical
    assert stacked_noncanonical_candidates([(0, 4)], "GAAAC") == []  # (1, 3) would enclose one base


def test_stacked_noncanonical_pass_resolves_competing_candidates_by_probability():
    # base 1 may pair inside (0, 10) as (1, 9) A·A or outside (2, 12) as (1, 13) A·C: the likelier wins
    sequence = "GAAAAAAAAACAUC"
    nested = [(0, 10), (2, 12)]
    probabilities = np.zeros((len(sequence), len(sequence)))
    probabilities[1, 9] = probabilities[9, 1] = 0.3
    probabilities[1, 13] = probabilities[13, 1] = 0.4
    assert add_stacked_noncanonical_pairs(nested, probabilities, sequence, 0.1) == [(0, 10), (1, 13), (2, 12)]
    probabilities[1, 9] = probabilities[9, 1] = 0.5
    assert add_stacked_noncanonical_pairs(nested, probabilities, sequence, 0.1) == [(0, 10), (1, 9), (2, 12)]


def test_decode_with_vienna_stacked_placement_keeps_only_stacked_noncanonical_pairs():
    sequence = "GGGGAAAGAAAAGACCCC"  # stem 0-3 / 14-17; (4, 13) A·C stacks on (3, 14); (7, 12) G·A does not
    stem = [(k, 17 - k) for k in range(4)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in stem:
        probabilities[i, j] = probabilities[j, i] = 0.95
    probabilities[7, 12] = probabilities[12, 7] = 0.3
    probabilities[4, 13] = probabilities[13, 4] = 0.25
    common = dict(method="mfe", threshold=0.5, scale=1.0, noncanonical_threshold=0.2)
    assert decode_with_vienna(probabilities, sequence, **common) == sorted(stem + [(4, 13), (7, 12)])
    stacked = decode_with_vienna(probabilities, sequence, **common, noncanonical_placement="stacked")
    assert stacked == sorted(stem + [(4, 13)])
    with pytest.raises(ValueError, match="noncanonical_placement must be one of"):
        decode_with_vienna(probabilities, sequence, **common, noncanonical_placement="near")


def test_decode_with_vienna_adds_a_pseudoknot_and_checks_its_input():
    # an H-type pseudoknot: stem 1 (0-4 with 14-18), stem 2 (9-13 with 23-27) crossing it
    sequence = "GGGGC" "AAAA" "CUGAC" "GCCCC" "AAAA" "GUCAG" "AAAA"
    stem1 = [(k, 18 - k) for k in range(5)]
    stem2 = [(9 + k, 27 - k) for k in range(5)]
    probabilities = np.full((len(sequence), len(sequence)), 0.001)
    for i, j in stem1 + stem2:
        probabilities[i, j] = probabilities[j, i] = 0.9
    pairs = decode_with_vienna(probabilities, sequence, "mfe", threshold=0.5, canonical_only=True)
    assert pairs == sorted(stem1 + stem2), "one stem from ViennaRNA, the crossing one from the pass"
    assert_valid(pairs, sequence)
    with pytest.raises(ValueError, match="finite"):
        decode_with_vienna(np.zeros((3, 3)), sequence)
    with pytest.raises(ValueError, match="method"):
        decode_with_vienna(probabilities, sequence, "centroid")
    assert decode_with_vienna(np.zeros((1, 1)), "A") == []
