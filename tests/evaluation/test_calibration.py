"""Reliability bins and ECE of modeling_ssrlm.evaluation.calibration on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_ssrlm.evaluation.calibration import probability_summary, reliability


def test_reliability_bins_and_ece_by_hand():
    # 3 nt, min separation 1: entries (0,1), (0,2), (1,2) with probabilities 0.05, 0.95, 0.95; truth: (0, 2)
    probabilities = np.array([[0, 0.05, 0.95], [0.05, 0, 0.95], [0.95, 0.95, 0]])
    result = reliability([probabilities], [[(0, 2)]], min_separation=1, bins=2)
    assert result.counts == [1, 2]
    assert result.mean_probability == pytest.approx([0.05, 0.95])
    assert result.observed_frequency == pytest.approx([0.0, 0.5])
    assert result.ece == pytest.approx((1 * 0.05 + 2 * 0.45) / 3)


def test_min_separation_drops_close_entries_and_empty_input_is_an_error():
    probabilities = np.full((3, 3), 0.5)
    assert sum(reliability([probabilities], [[]], min_separation=2, bins=4).counts) == 1
    with pytest.raises(ValueError, match="no scored entries"):
        reliability([np.zeros((1, 1))], [[]])


def test_probability_summary_counts_ties_among_the_top_values():
    probabilities = np.zeros((4, 4))
    for (i, j), p in {(0, 3): 0.9, (0, 2): 0.4, (1, 3): 0.4, (1, 2): 0.1}.items():
        probabilities[i, j] = probabilities[j, i] = p
    assert probability_summary(probabilities, top=3) == {"max": 0.9, "tied_in_top": 1}
    assert probability_summary(probabilities, top=1) == {"max": 0.9, "tied_in_top": 0}
