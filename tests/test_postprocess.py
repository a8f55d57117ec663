"""Tests for modeling_ssrlm.postprocess: probability matrix -> pair list."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from modeling_ssrlm.postprocess import canonical_mask, postprocess


def probability_matrix(length, entries):
    """A symmetric matrix with the given ``{(i, j): p}`` entries and zeros elsewhere."""
    probs = np.zeros((length, length))
    for (i, j), p in entries.items():
        probs[i, j] = probs[j, i] = p
    return probs


# G at 0 and 5, C at 10 and 20: the three candidate pairs below are all Watson-Crick.
CONFLICT_SEQUENCE = "GAAAAGAAAACAAAAAAAAAC"
CONFLICT_PROBS = probability_matrix(21, {(0, 10): 0.9, (0, 20): 0.8, (5, 10): 0.8})


def test_greedy_and_max_weight_matching_differ():
    # Greedy takes the single best pair (0, 10) (total 0.9), which blocks both others;
    # the maximum-weight matching takes (0, 20) and (5, 10) instead (total 1.6).
    assert postprocess(CONFLICT_PROBS, CONFLICT_SEQUENCE, matching="greedy") == [(0, 10)]
    assert postprocess(CONFLICT_PROBS, CONFLICT_SEQUENCE, matching="max_weight") == [(0, 20), (5, 10)]
    assert postprocess(CONFLICT_PROBS, CONFLICT_SEQUENCE, matching="none") == [(0, 10), (0, 20), (5, 10)]


def test_greedy_breaks_ties_by_position():
    probs = probability_matrix(8, {(0, 6): 0.7, (0, 5): 0.7})
    assert postprocess(probs, "GAAAACCA", matching="greedy") == [(0, 5)]


@pytest.mark.parametrize(
    "first, last, canonical",
    [
        ("G", "C", True),
        ("C", "G", True),
        ("A", "U", True),
        ("U", "A", True),
        ("G", "U", True),
        ("U", "G", True),
        ("G", "T", True),
        ("a", "u", True),
        ("A", "G", False),
        ("C", "U", False),
        ("A", "A", False),
        ("N", "N", False),
        ("G", "N", False),
    ],
)
def test_canonical_filter(first, last, canonical):
    sequence = first + "AAAA" + last
    probs = probability_matrix(6, {(0, 5): 0.9})
    assert postprocess(probs, sequence) == ([(0, 5)] if canonical else [])
    assert postprocess(probs, sequence, canonical_only=False) == [(0, 5)]


def test_canonical_mask():
    mask = canonical_mask("ACGUN")
    expected = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 3), (1, 2), (2, 3)]:  # AU, CG, GU
        expected[i, j] = expected[j, i] = True
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize(
    "min_loop_length, expected",
    [(3, [(1, 5), (2, 7)]), (0, [(0, 2), (0, 3), (1, 5), (2, 7)]), (4, [(2, 7)])],
)
def test_sharp_loop_filter(min_loop_length, expected):
    # separations: (0, 2) -> 2, (0, 3) -> 3, (1, 5) -> 4, (2, 7) -> 5
    probs = probability_matrix(8, {(0, 2): 0.9, (0, 3): 0.9, (1, 5): 0.9, (2, 7): 0.9})
    pairs = postprocess(
        probs, "A" * 8, canonical_only=False, min_loop_length=min_loop_length, matching="none"
    )
    assert pairs == expected


def test_threshold_is_strictly_greater():
    probs = probability_matrix(6, {(0, 5): 0.5})
    assert postprocess(probs, "GAAAAC", threshold=0.5) == []
    assert postprocess(probs, "GAAAAC", threshold=float(np.nextafter(0.5, 0.0))) == [(0, 5)]
    assert postprocess(probs, "GAAAAC", threshold=0.0) == [(0, 5)]
    assert postprocess(np.zeros((6, 6)), "GAAAAC", threshold=0.0) == []


def test_only_the_upper_triangle_is_read():
    probs = np.zeros((6, 6))
    probs[5, 0] = 0.9
    assert postprocess(probs, "GAAAAC") == []


@pytest.mark.parametrize(
    "probs, kwargs, message",
    [
        (np.zeros((5, 5)), {}, r"probs must have shape \(6, 6\) for a sequence of length 6, got \(5, 5\)"),
        (np.zeros(6), {}, r"got \(6,\)"),
        (np.full((6, 6), np.nan), {}, "NaN or infinite"),
        (np.zeros((6, 6)), {"matching": "hungarian"}, "matching must be one of"),
        (np.zeros((6, 6)), {"min_loop_length": -1}, "min_loop_length must be >= 0"),
    ],
)
def test_bad_input_raises(probs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        postprocess(probs, "GAAAAC", **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 14).flatmap(
        lambda n: st.tuples(
            st.text(alphabet="ACGUN", min_size=n, max_size=n),
            arrays(np.float64, (n, n), elements=st.floats(0, 1)),
        )
    )
)
def test_matchings_give_valid_structures(record):
    sequence, probs = record
    probs = (probs + probs.T) / 2
    unconstrained = postprocess(probs, sequence, matching="none")
    assert all(j - i > 3 and probs[i, j] > 0.5 for i, j in unconstrained)
    assert all(canonical_mask(sequence)[i, j] for i, j in unconstrained)
    totals = {}
    for method in ("greedy", "max_weight"):
        pairs = postprocess(probs, sequence, matching=method)
        bases = [base for pair in pairs for base in pair]
        assert len(bases) == len(set(bases)), "a base is in two pairs"
        assert set(pairs) <= set(unconstrained)
        assert pairs == sorted(pairs)
        totals[method] = sum(probs[i, j] for i, j in pairs)
    assert totals["max_weight"] >= totals["greedy"] - 1e-9
