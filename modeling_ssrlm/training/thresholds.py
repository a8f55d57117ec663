"""Choose a pair model's decision threshold on validation data (training-time only, never shipped).

The threshold lives in ``config.pair_threshold``; these functions find the value that maximises the
mean strict F1 of :meth:`~modeling_ssrlm.modeling_ssrlm_pair.PairPredictionMixin.decode_pairs` on a
validation split, with post-processing (and decoder) as the model's config sets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..evaluation.metrics import pair_scores, score_structures
from ..modeling_ssrlm_pair import PairPredictionMixin, normalize_batch
from ..secondary_structure import Pair

__all__ = [
    "DEFAULT_THRESHOLD_GRID",
    "ThresholdSearch",
    "choose_threshold",
    "search_noncanonical_threshold",
    "search_threshold",
]

#: Thresholds tried by :func:`choose_threshold`: 0.02, 0.04, …, 0.98.
DEFAULT_THRESHOLD_GRID = tuple(round(0.02 * step, 2) for step in range(1, 50))


@dataclass
class ThresholdSearch:
    """Result of :func:`choose_threshold`: the best threshold and the mean F1 at every grid point."""

    threshold: float
    f1: float
    f1_by_threshold: dict[float, float]
    #: :func:`search_noncanonical_threshold` only: mean strict F1 on non-canonical pairs at each point.
    noncanonical_f1_by_threshold: dict[float, float] | None = None


def choose_threshold(
    model: PairPredictionMixin,
    sequences: Sequence[str],
    true_pairs: Sequence[Sequence[Pair]],
    grid: Sequence[float] = DEFAULT_THRESHOLD_GRID,
    batch_tokens: int = 4096,
) -> ThresholdSearch:
    """Grid-search the decision threshold that maximises the mean strict F1 on a validation set.

    Runs the model, then :func:`search_threshold`. Use validation data only; the caller writes the
    result into ``model.config.pair_threshold``.
    """
    normalized = normalize_batch(sequences)
    probabilities = model.pair_probabilities(normalized, batch_tokens=batch_tokens)
    return search_threshold(model, probabilities, normalized, true_pairs, grid)


def _nested_parts(
    model: PairPredictionMixin,
    probabilities: Sequence[np.ndarray],
    sequences: Sequence[str],
    true_pairs: Sequence[Sequence[Pair]],
) -> list[list[Pair] | None]:
    """Check the inputs line up; fold each sequence once (the threshold-independent nested part)."""
    if not len(probabilities) == len(sequences) == len(true_pairs) or not sequences:
        raise ValueError(
            f"need equally many (>0) probability maps, sequences and structures, got "
            f"{len(probabilities)}, {len(sequences)} and {len(true_pairs)}"
        )
    return [model.nested_pairs(matrix, sequence) for matrix, sequence in zip(probabilities, sequences)]


def _mean_f1(model, probabilities, sequences, true_pairs, nested, threshold: float | None = None) -> float:
    """Mean strict F1 of ``model.decode_pairs`` (at ``threshold``, else the config's) over the sequences."""
    scores = [
        pair_scores(model.decode_pairs(matrix, sequence, threshold, nested=known), truth)["f1"]
        for matrix, sequence, truth, known in zip(probabilities, sequences, true_pairs, nested)
    ]
    return float(np.mean(scores))


def search_threshold(
    model: PairPredictionMixin,
    probabilities: Sequence[np.ndarray],
    sequences: Sequence[str],
    true_pairs: Sequence[Sequence[Pair]],
    grid: Sequence[float] = DEFAULT_THRESHOLD_GRID,
) -> ThresholdSearch:
    """Mean strict F1 of ``model.decode_pairs`` at each threshold of ``grid`` on given probability maps.

    Post-processing and decoder follow the model's config (a ViennaRNA decoder folds each sequence
    once: its nested part does not depend on the threshold). Ties go to the lowest threshold.
    """
    nested = _nested_parts(model, probabilities, sequences, true_pairs)
    f1_by_threshold = {
        float(threshold): _mean_f1(model, probabilities, sequences, true_pairs, nested, threshold) for threshold in grid
    }
    best = max(f1_by_threshold, key=lambda t: (f1_by_threshold[t], -t))
    return ThresholdSearch(threshold=best, f1=f1_by_threshold[best], f1_by_threshold=f1_by_threshold)


def search_noncanonical_threshold(
    model: PairPredictionMixin,
    probabilities: Sequence[np.ndarray],
    sequences: Sequence[str],
    true_pairs: Sequence[Sequence[Pair]],
    grid: Sequence[float] = DEFAULT_THRESHOLD_GRID,
) -> ThresholdSearch:
    """Choose ``config.pair_noncanonical_threshold`` among ``grid`` and ``None`` (no pass, keyed ``1.0``).

    The non-canonical pass of a ViennaRNA decoder (``pair_threshold`` and
    ``pair_noncanonical_placement`` fixed as configured). At each point: the mean strict F1 over all
    pairs and the mean F1 on non-canonical pairs (:func:`~modeling_ssrlm.evaluation.metrics.score_structures`'s
    ``f1_noncanonical``, 0 where no sequence has one). The pass exists to find non-canonical pairs
    but must not cost accuracy: the choice is the point with the best non-canonical F1 among those
    whose overall F1 is at least that without the pass (ties: the highest threshold, fewer added
    pairs); ``1.0`` when no point qualifies. Score it on splits whose labels hold non-canonical pairs
    (3D-derived), not on canonical-only annotations. Each sequence is folded once; the config is
    left as it was, the caller writes the result (``None`` when ``1.0`` wins).
    """
    if model.config.pair_decoder == "threshold":
        raise ValueError("the non-canonical pass belongs to the ViennaRNA decoders; set pair_decoder first")
    nested = _nested_parts(model, probabilities, sequences, true_pairs)
    saved = model.config.pair_noncanonical_threshold
    f1_by_threshold, noncanonical_f1 = {}, {}
    try:
        for threshold in (*grid, 1.0):
            model.config.pair_noncanonical_threshold = float(threshold)
            decoded = [
                model.decode_pairs(matrix, sequence, nested=known)
                for matrix, sequence, known in zip(probabilities, sequences, nested)
            ]
            scores = score_structures(sequences, decoded, true_pairs)
            f1_by_threshold[float(threshold)] = scores["f1"]
            noncanonical_f1[float(threshold)] = scores["f1_noncanonical"] or 0.0
    finally:
        model.config.pair_noncanonical_threshold = saved
    allowed = [t for t in f1_by_threshold if f1_by_threshold[t] >= f1_by_threshold[1.0]]
    best = max(allowed, key=lambda t: (noncanonical_f1[t], t))
    return ThresholdSearch(best, f1_by_threshold[best], f1_by_threshold, noncanonical_f1)
