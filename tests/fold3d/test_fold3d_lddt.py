"""lDDT on one atom per residue: exact values, invariance, neighbour rules and noise response."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from modeling_ssrlm.fold3d.lddt import lddt


def helix(n: int) -> np.ndarray:
    """C4'-like points on an A-form-sized helix (consecutive points ~6 Å apart)."""
    t = np.arange(n) * np.radians(32.7)
    return np.stack([9 * np.cos(t), 9 * np.sin(t), 2.8 * np.arange(n)], axis=1)


def test_identical_structures_score_one():
    coords = helix(20)
    score, per_residue = lddt(coords, coords, per_residue=True)
    assert score == 1.0
    np.testing.assert_array_equal(per_residue, np.ones(20))


def test_hand_computed_three_atoms():
    reference = np.array([[0.0, 0, 0], [3, 0, 0], [6, 0, 0]])
    predicted = np.array([[0.0, 0, 0], [3, 0, 0], [7.5, 0, 0]])
    # pair (0,1): |3-3| = 0 -> 4/4; pairs (0,2) and (1,2): |Δ| = 1.5 -> below 2 and 4 only -> 2/4.
    score, per_residue = lddt(predicted, reference, per_residue=True)
    np.testing.assert_allclose(per_residue, [0.75, 0.75, 0.5])
    assert score == pytest.approx(2 / 3)


def test_residue_without_neighbours_is_nan_and_left_out():
    reference = np.array([[0.0, 0, 0], [3, 0, 0], [6, 0, 0], [100, 0, 0]])
    predicted = np.array([[0.0, 0, 0], [3, 0, 0], [7.5, 0, 0], [50, 0, 0]])
    score, per_residue = lddt(predicted, reference, per_residue=True)
    assert np.isnan(per_residue[3])
    assert score == pytest.approx(2 / 3)


def test_radius_and_thresholds_are_parameters():
    reference = np.array([[0.0, 0, 0], [3, 0, 0], [6, 0, 0]])
    predicted = np.array([[0.0, 0, 0], [3, 0, 0], [7.5, 0, 0]])
    # radius 5 Å keeps only the two 3 Å pairs: (0,1) exact, (1,2) off by 1.5 Å.
    _, per_residue = lddt(predicted, reference, cutoff=5.0, per_residue=True)
    np.testing.assert_allclose(per_residue, [1.0, 0.75, 0.5])
    assert lddt(predicted, reference, thresholds=(1.0,)) == pytest.approx(1 / 3)


def test_mask_removes_residues_from_both_sides():
    reference = np.array([[0.0, 0, 0], [3, 0, 0], [6, 0, 0]])
    predicted = np.array([[0.0, 0, 0], [3, 0, 0], [7.5, 0, 0]])
    score, per_residue = lddt(predicted, reference, mask=[True, True, False], per_residue=True)
    assert score == 1.0
    assert np.isnan(per_residue[2])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_invariant_to_rotation_and_translation(seed):
    rng = np.random.default_rng(seed)
    reference = helix(15)
    predicted = reference + rng.normal(scale=1.5, size=reference.shape)
    moved = Rotation.random(random_state=seed).apply(predicted) + rng.normal(scale=20, size=3)
    assert lddt(moved, reference) == pytest.approx(lddt(predicted, reference))


def test_decreases_monotonically_with_noise():
    reference = helix(40)
    rng = np.random.default_rng(0)
    scores = [
        np.mean([lddt(reference + rng.normal(scale=sigma, size=reference.shape), reference) for _ in range(10)])
        for sigma in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    ]
    assert scores[0] == 1.0
    assert all(later < earlier for earlier, later in zip(scores, scores[1:]))


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        lddt(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="mask"):
        lddt(np.zeros((3, 3)), np.zeros((3, 3)), mask=[True])
    with pytest.raises(ValueError, match="positive"):
        lddt(np.zeros((3, 3)), np.zeros((3, 3)), cutoff=0)
