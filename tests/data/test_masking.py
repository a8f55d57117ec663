"""Tests for modeling_ssrlm.data.masking: masking budget, SM, SSM, plain token masking, structure cropping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_ssrlm.data.masking import crop_structure, masking_budget, span_mask, structure_span_mask, token_mask
from modeling_ssrlm.secondary_structure import StructureError, parse_dot_bracket, to_dot_bracket

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------------------------
# Random valid structures
# --------------------------------------------------------------------------------------------


def structure_from_helices(length: int, helices: list[tuple[int, int, int]], pseudoknots: bool) -> str:
    """Dot-bracket of ``length`` built from candidate helices ``(start, helix_length, end)``.

    A candidate pairs ``start + k`` with ``end - k`` for ``k < helix_length``; it is skipped when it
    does not fit (hairpin loop under 3 nt, out of range), touches a paired base, or, without
    ``pseudoknots``, crosses an accepted pair. Brackets are written by ``to_dot_bracket``, so
    crossing helices get ``[]``, ``{}``, ... levels.
    """
    partner = np.full(length, -1)
    for start, helix_length, end in helices:
        if end >= length or end - start + 1 < 2 * helix_length + 3:
            continue
        opens, closes = np.arange(start, start + helix_length), np.arange(end, end - helix_length, -1)
        if (partner[opens] >= 0).any() or (partner[closes] >= 0).any():
            continue
        inside = partner[start : end + 1]
        if not pseudoknots and ((inside >= 0) & ((inside < start) | (inside > end))).any():
            continue
        partner[opens], partner[closes] = closes, opens
    pairs = [(i, int(j)) for i, j in enumerate(partner) if i < j]
    return to_dot_bracket(pairs, length)


@st.composite
def structures(draw, min_length: int = 0, max_length: int = 150, pseudoknots: bool = True) -> str:
    """Hypothesis strategy for valid dot-brackets with helices of 1-8 bp (optionally pseudoknotted)."""
    length = draw(st.integers(min_length, max_length))
    helix = st.tuples(st.integers(0, max(length - 1, 0)), st.integers(1, 8), st.integers(0, max(length - 1, 0)))
    return structure_from_helices(length, draw(st.lists(helix, max_size=30)), pseudoknots)


def random_structure(rng: np.random.Generator, length: int) -> str:
    """The same construction with numpy draws (40 candidate helices, pseudoknots allowed)."""
    starts = rng.integers(0, length, size=40)
    helix_lengths = rng.integers(1, 9, size=40)
    ends = starts + rng.integers(0, length, size=40)
    return structure_from_helices(length, list(zip(starts.tolist(), helix_lengths.tolist(), ends.tolist())), True)


def runs_of(structure: str) -> list[tuple[int, int]]:
    """Half-open ranges of the maximal runs of identical characters at paired positions."""
    paired = {position for pair in parse_dot_bracket(structure) for position in pair}
    runs: list[tuple[int, int]] = []
    for position in sorted(paired):
        if runs and runs[-1][1] == position and structure[position] == structure[position - 1]:
            runs[-1] = (runs[-1][0], position + 1)
        else:
            runs.append((position, position + 1))
    return runs


def masked_runs_with_masked_partner(structure: str, mask: np.ndarray) -> list[tuple[int, int]]:
    """Masked runs that have a partner run masked too (both strands of one helix masked)."""
    partner = {i: j for pair in parse_dot_bracket(structure) for i, j in (pair, pair[::-1])}
    return [(a, b) for a, b in runs_of(structure) if mask[a] and any(mask[partner[p]] for p in range(a, b))]


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "rate", "expected"),
    [(0, 0.15, 0), (1, 0.15, 1), (3, 0.15, 1), (10, 0.15, 2), (200, 0.15, 30), (1022, 0.15, 153),
     (1024, 0.15, 154), (50, 0.0, 0), (50, 1.0, 50)],
)
def test_masking_budget_hand_cases(length, rate, expected):
    assert masking_budget(length, rate) == expected


@pytest.mark.parametrize(("length", "rate"), [(-1, 0.15), (10, -0.1), (10, 1.5), (2.5, 0.15)])
def test_masking_budget_rejects_bad_arguments(length, rate):
    with pytest.raises(ValueError):
        masking_budget(length, rate)


# --------------------------------------------------------------------------------------------
# Span masking (SM)
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(length=st.integers(0, 400), rate=st.floats(0.01, 0.5), span_length=st.integers(1, 6), seed=st.integers(0, 2**32))
def test_span_mask_covers_whole_spans_up_to_the_budget(length, rate, span_length, seed):
    mask = span_mask(length, rate, span_length, seeded(seed))
    assert mask.dtype == bool and mask.shape == (length,)
    budget = masking_budget(length, rate)
    num_spans = -(-budget // span_length)
    assert mask.sum() == min(num_spans * span_length, length)
    # Masked stretches are unions of whole spans; only one ending at the sequence end may be clipped.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2]):
        assert stop == length or (stop - start) % span_length == 0


def test_span_mask_realised_rate_over_many_draws():
    rng = seeded(0)
    rates = [span_mask(int(length), generator=rng).mean() for length in rng.integers(20, 1000, size=2000)]
    assert abs(np.mean(rates) - 0.15) < 0.02
    exact = [span_mask(200, generator=rng).mean() for _ in range(2000)]
    assert np.mean(exact) == pytest.approx(0.15)  # budget 30 = 10 spans of 3


def test_span_mask_positions_are_spread_over_the_sequence():
    rng = seeded(1)
    frequency = np.mean([span_mask(60, generator=rng) for _ in range(4000)], axis=0)
    assert np.all((frequency[3:-3] > 0.1) & (frequency[3:-3] < 0.2))


def test_span_mask_short_sequence_is_clipped_at_the_end():
    assert span_mask(2, generator=seeded(0)).tolist() == [True, True]  # budget 1: one span of 3 clipped
    assert span_mask(0).shape == (0,)


def test_span_mask_rejects_bad_span_length():
    with pytest.raises(ValueError, match="span_length"):
        span_mask(10, span_length=0)


# --------------------------------------------------------------------------------------------
# Token masking (MLM)
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(length=st.integers(0, 400), rate=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_token_mask_masks_exactly_the_budget(length, rate, seed):
    mask = token_mask(length, rate, seeded(seed))
    assert mask.dtype == bool and mask.shape == (length,)
    assert mask.sum() == masking_budget(length, rate)


def test_token_mask_is_uniform_over_positions():
    rng = seeded(2)
    frequency = np.mean([token_mask(40, generator=rng) for _ in range(4000)], axis=0)
    assert np.all(np.abs(frequency - 0.15) < 0.03)  # budget 6 of 40 = 0.15 at every position


# --------------------------------------------------------------------------------------------
# Structure-aware span masking (SSM)
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(structure=structures(), rate=st.floats(0.05, 0.6), span_length=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_ssm_masks_whole_runs_and_meets_the_budget(structure, rate, span_length, seed):
    mask = structure_span_mask(structure, rate, span_length, seeded(seed))
    assert mask.dtype == bool and mask.shape == (len(structure),)
    for start, stop in runs_of(structure):
        assert mask[start:stop].all() or not mask[start:stop].any()
    budget = masking_budget(len(structure), rate)
    largest_unit = max([span_length] + [stop - start for start, stop in runs_of(structure)])
    assert budget <= mask.sum() < budget + largest_unit or mask.sum() == budget == 0


@PROPERTY_SETTINGS
@given(structure=structures(min_length=1), rate=st.floats(0.05, 0.6), seed=st.integers(0, 2**32))
def test_ssm_never_masks_both_strands_when_loops_can_fill_the_budget(structure, rate, seed):
    unpaired = len(structure) - 2 * len(parse_dot_bracket(structure))
    mask = structure_span_mask(structure, rate, generator=seeded(seed))
    if masking_budget(len(structure), rate) <= unpaired:
        assert masked_runs_with_masked_partner(structure, mask) == []


def test_ssm_keeps_partner_strands_visible_on_a_hairpin():
    structure = "((((....))))"  # budget 6 at rate 0.5: one strand plus loop, never both strands
    masks = [structure_span_mask(structure, 0.5, generator=seeded(seed)) for seed in range(200)]
    assert all(mask.sum() >= 6 and not (mask[0] and mask[8]) for mask in masks)
    assert any(mask[0] for mask in masks) and any(mask[8] for mask in masks)


def test_ssm_masks_both_strands_only_when_the_budget_demands_it():
    assert structure_span_mask("(((())))", 0.5, generator=seeded(0)).sum() == 4  # one strand suffices
    assert structure_span_mask("(((())))", 0.75, generator=seeded(0)).all()  # budget 6 > 4 unpaired-free


def test_ssm_pseudoknot_strands_are_their_own_runs():
    structure = "((..[[..))..]]"
    for seed in range(100):
        mask = structure_span_mask(structure, 0.3, generator=seeded(seed))  # budget 4
        assert masked_runs_with_masked_partner(structure, mask) == []


@pytest.mark.parametrize(("seed", "expected"), [(2, [0, 1, 2]), (1, [6, 7, 8]), (0, [4, 5])])
def test_ssm_hairpin_hand_cases(seed, expected):
    # Budget 1: the first seed decides. A seed in a strand masks the whole strand; a loop seed masks
    # an SM span clipped at the loop's end (seed 0 draws position 4 first: span 4-5, not 4-6).
    mask = structure_span_mask("(((...)))", 0.1, generator=seeded(seed))
    assert np.flatnonzero(mask).tolist() == expected


def test_ssm_realised_rate_on_random_structures():
    # Each sample covers at least the budget (30 of 200) and overshoots by less than one run (at
    # most 8 bp here); the mean overshoot stays within 0.15 + 0.02.
    rng = seeded(3)
    rates = [
        structure_span_mask(structure, generator=rng).mean()
        for structure in (random_structure(rng, 200) for _ in range(200))
        for _ in range(10)
    ]
    assert min(rates) >= 0.15
    assert 0.15 <= np.mean(rates) <= 0.17


def test_ssm_without_pairs_is_span_masking_within_the_sequence():
    mask = structure_span_mask("." * 40, generator=seeded(4))
    assert mask.sum() >= masking_budget(40, 0.15)
    assert structure_span_mask("").shape == (0,)


@pytest.mark.parametrize("structure", ["((.)", "(.))", "((x))", "(.]"])
def test_ssm_rejects_malformed_structures(structure):
    with pytest.raises(StructureError):
        structure_span_mask(structure)


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_mask",
    [
        lambda rng: span_mask(300, generator=rng),
        lambda rng: token_mask(300, generator=rng),
        lambda rng: structure_span_mask("((((....))))..((((((......))))))...." * 8, generator=rng),
    ],
    ids=["sm", "mlm", "ssm"],
)
def test_masks_are_reproducible_with_a_seeded_generator(make_mask):
    first, second = make_mask(seeded(7)), make_mask(seeded(7))
    assert np.array_equal(first, second)
    assert not all(np.array_equal(first, make_mask(seeded(seed))) for seed in range(8, 12))
    assert make_mask(None).shape == first.shape  # a fresh generator when None


# --------------------------------------------------------------------------------------------
# Cropping structures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("structure", "start", "stop", "expected"),
    [
        ("((..))", 0, 6, "((..))"),
        ("((..))", 1, 6, "(..)."),
        ("((..[[))..]]", 2, 10, "........"),
        ("((..[[))..]]", 0, 8, "((....))"),
        ("(((...)))..", 6, 11, "....."),
    ],
)
def test_crop_structure_unpairs_bases_whose_partner_left_the_window(structure, start, stop, expected):
    assert crop_structure(structure, start, stop) == expected


@PROPERTY_SETTINGS
@given(structure=structures(min_length=1), data=st.data())
def test_crop_structure_keeps_exactly_the_pairs_inside_the_window(structure, data):
    start = data.draw(st.integers(0, len(structure)))
    stop = data.draw(st.integers(start, len(structure)))
    cropped = crop_structure(structure, start, stop)
    inside = [(i - start, j - start) for i, j in parse_dot_bracket(structure) if start <= i and j < stop]
    assert parse_dot_bracket(cropped) == inside


def test_crop_structure_rejects_a_window_outside():
    with pytest.raises(ValueError, match="window"):
        crop_structure("((..))", 2, 9)
