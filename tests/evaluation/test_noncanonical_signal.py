"""``benchmarks/noncanonical_signal.py``: the stacked pass's candidates and its reach, by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from script_loader import load_script

signal = load_script("benchmarks/noncanonical_signal.py")

SEQUENCE = "GGGAGGGAAAAAAAAACCCGCCCAA"  # stems 0-2 / 20-22 and 4-6 / 16-18 around a 1x1 loop (3, 19)
CANONICAL = [(0, 22), (1, 21), (2, 20), (4, 18), (5, 17), (6, 16)]


def test_reach_counts_pairs_stacked_on_true_canonical_pairs_and_multiplets():
    # (3, 19) A·G fills the 1x1 loop and (7, 15) A·A continues stem B: reachable; (8, 14) stacks only on
    # the non-canonical (7, 15); (7, 23) A·A shares base 7 with (7, 15): both are in a multiplet
    truth = CANONICAL + [(3, 19), (7, 15), (8, 14), (7, 23)]
    assert signal.reachable([SEQUENCE], [truth]) == (2, 2, 4)
    assert signal.reachable([SEQUENCE], [CANONICAL]) == (0, 0, 0)


def test_stacked_candidates_are_taken_next_to_the_structure_decoded_without_the_pass():
    seen = []

    class Model:
        config = SimpleNamespace(pair_noncanonical_threshold=0.3)

        def decode_pairs(self, probabilities, sequence):
            seen.append(self.config.pair_noncanonical_threshold)
            return CANONICAL

    model = Model()
    probabilities = np.zeros((len(SEQUENCE), len(SEQUENCE)))
    probabilities[3, 19] = probabilities[7, 15] = 0.2
    scores, labels = signal.stacked_candidates(model, SEQUENCE, probabilities, CANONICAL + [(7, 15)])
    assert seen == [None] and model.config.pair_noncanonical_threshold == 0.3  # pass off while decoding, then restored
    np.testing.assert_array_equal(scores, [0.2, 0.2])  # candidates (3, 19) and (7, 15), in order
    np.testing.assert_array_equal(labels, [False, True])
