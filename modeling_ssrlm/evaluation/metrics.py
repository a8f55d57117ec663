"""Secondary-structure prediction metrics: precision, recall, F1 and AUPRC over base pairs.

Conventions (tested in ``tests/test_metrics.py``):

* Pairs are compared as sets of 0-based ``(i, j)`` with ``i < j``; orientation is normalised, a
  pair listed twice raises :class:`~modeling_ssrlm.secondary_structure.StructureError`. Multiplets are
  allowed (PDB-derived references contain them).
* **Empty sets**: if both the predicted and the true set are empty, precision = recall = F1 = 1.0
  (a correct prediction of "no structure"). Otherwise a ratio with a zero denominator is 0.0 (an
  empty prediction against a non-empty truth has precision 0.0, recall 0.0, F1 0.0), and F1 is
  0.0 when precision + recall = 0.
* **Shift tolerance** (``shift=1``, the RNAstructure ``scorer`` convention used by the bpRNA,
  SPOT-RNA and MXfold2 evaluations): a predicted pair ``(i, j)`` is correct if the true set holds
  ``(i, j)``, ``(i +- 1, j)`` or ``(i, j +- 1)`` -- one end exact, the other off by at most
  ``shift``. Precision counts the predicted pairs so matched, recall counts the true pairs that
  some predicted pair matches in the same way. With ``shift > 0`` these two counts may differ, so
  :func:`pair_scores` reports ``tp`` (matched predictions), ``fp = n_pred - tp`` and ``fn`` (true
  pairs matched by no prediction). ``shift=0`` is the strict score, the headline number.
* **Per-sequence mean vs pooled**: the *mean* scores average each sequence's precision, recall
  and F1 (the paper's headline); the *pooled* (micro) scores sum matched and total pair counts
  over all sequences first, so long sequences weigh more.
* **AUPRC**: average precision (:func:`sklearn.metrics.average_precision_score`) of the raw
  probabilities over the strict upper triangle; it is undefined (``nan``) for a sequence without
  true pairs, and such sequences are left out of the mean and counted separately.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from ..secondary_structure import Pair, base_pair_type, pairs_to_matrix, validate_pairs

PAIR_TYPES = ("watson_crick", "wobble", "noncanonical")
DEFAULT_LENGTH_BINS = (0, 50, 100, 200, 500, 1000, math.inf)  # edges of [lo, hi) bins


def _pair_set(pairs: Iterable[Sequence[int]]) -> set[Pair]:
    """Return ``pairs`` as a set of ``(min, max)`` int tuples (multiplets allowed, no duplicates)."""
    return set(validate_pairs(pairs, length=None, allow_multiplets=True))


def _neighbours(pair: Pair, shift: int) -> set[Pair]:
    """Pairs with one end equal to ``pair``'s and the other at most ``shift`` away (incl. ``pair``)."""
    i, j = pair
    return {(i + d, j) for d in range(-shift, shift + 1)} | {(i, j + d) for d in range(-shift, shift + 1)}


def _matched(pairs: set[Pair], reference: set[Pair], shift: int) -> int:
    """Count the pairs of ``pairs`` that have a shift-neighbour in ``reference``."""
    if shift == 0:
        return len(pairs & reference)
    return sum(1 for pair in pairs if _neighbours(pair, shift) & reference)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def _prf(matched_pred: int, n_pred: int, matched_true: int, n_true: int) -> dict[str, float]:
    """Precision, recall and F1 from match counts, with the empty-set conventions."""
    if n_pred == 0 and n_true == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = _ratio(matched_pred, n_pred)
    recall = _ratio(matched_true, n_true)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }


def pair_scores(
    pred_pairs: Iterable[Sequence[int]], true_pairs: Iterable[Sequence[int]], shift: int = 0
) -> dict[str, float | int]:
    """Score one predicted structure against the true one.

    Returns ``precision``, ``recall``, ``f1`` (floats) and the counts ``tp``, ``fp``, ``fn``,
    ``n_pred``, ``n_true`` (ints); see the module docstring for the conventions.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    pred, true = _pair_set(pred_pairs), _pair_set(true_pairs)
    tp = _matched(pred, true, shift)
    matched_true = _matched(true, pred, shift)
    scores: dict[str, float | int] = _prf(tp, len(pred), matched_true, len(true))
    scores.update(tp=tp, fp=len(pred) - tp, fn=len(true) - matched_true, n_pred=len(pred), n_true=len(true))
    return scores


def pooled_scores(per_sequence: Iterable[dict[str, float | int]]) -> dict[str, float]:
    """Micro-averaged precision, recall and F1 from several :func:`pair_scores` results."""
    totals = {key: 0 for key in ("tp", "n_pred", "fn", "n_true")}
    for scores in per_sequence:
        for key in totals:
            totals[key] += scores[key]
    return _prf(totals["tp"], totals["n_pred"], totals["n_true"] - totals["fn"], totals["n_true"])


def auprc(probs: np.ndarray, true_pairs: Iterable[Sequence[int]], min_separation: int = 0) -> float:
    """Average precision of ``probs`` at recovering ``true_pairs`` (``nan`` without true pairs).

    Scored entries are ``probs[i, j]`` with ``j - i >= max(1, min_separation)`` (the strict upper
    triangle, optionally without short-range pairs); true pairs closer than that are not scored.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != probs.shape[1]:
        raise ValueError(f"probs must be a square matrix, got shape {probs.shape}")
    length = probs.shape[0]
    labels = np.zeros((length, length), dtype=bool)
    pairs = validate_pairs(true_pairs, length, allow_multiplets=True)
    if pairs:
        labels[tuple(np.array(pairs).T)] = True
    rows, cols = np.triu_indices(length, k=max(1, min_separation))
    if not labels[rows, cols].any():
        return math.nan
    return float(average_precision_score(labels[rows, cols], probs[rows, cols]))


def pair_type(sequence: str, i: int, j: int) -> str:
    """``"watson_crick"`` (AU, GC), ``"wobble"`` (GU) or ``"noncanonical"`` for bases ``i`` and ``j``."""
    return base_pair_type(sequence[i], sequence[j])


def _mean(values: list[float]) -> float | None:
    """Mean of ``values``, or ``None`` (JSON ``null``) when there are none."""
    return float(np.mean(values)) if values else None


def _prf_summary(per_sequence: list[dict[str, float | int]], suffix: str) -> dict[str, float | None]:
    """Per-sequence mean and pooled precision/recall/F1, keys ending in ``suffix``."""
    summary = {
        name + suffix: _mean([s[name] for s in per_sequence]) for name in ("precision", "recall", "f1")
    }
    summary.update({f"pooled_{name}{suffix}": v for name, v in pooled_scores(per_sequence).items()})
    return summary


def _auprc_summary(probs: Sequence[np.ndarray], trues: list[list[Pair]]) -> dict[str, float | int | None]:
    """Mean AUPRC over the sequences that have true pairs, with the counts used and skipped."""
    values = [auprc(matrix, true) for matrix, true in zip(probs, trues)]
    defined = [v for v in values if not math.isnan(v)]
    return {"auprc": _mean(defined), "auprc_n": len(defined), "auprc_n_nan": len(values) - len(defined)}


def _type_f1(sequence: str, pred: list[Pair], true: list[Pair], kind: str) -> float | None:
    """Strict F1 on the pairs of one type, or ``None`` if neither structure has such a pair."""
    pred_kind = [p for p in pred if pair_type(sequence, *p) == kind]
    true_kind = [p for p in true if pair_type(sequence, *p) == kind]
    if not pred_kind and not true_kind:
        return None
    return pair_scores(pred_kind, true_kind)["f1"]


def _pair_type_summary(
    sequences: Sequence[str], preds: list[list[Pair]], trues: list[list[Pair]]
) -> dict[str, float | int | None]:
    """``f1_<type>`` / ``n_<type>`` for each pair type (see :func:`score_structures`)."""
    summary: dict[str, float | int | None] = {}
    for kind in PAIR_TYPES:
        scores = [_type_f1(s, p, t, kind) for s, p, t in zip(sequences, preds, trues)]
        defined = [v for v in scores if v is not None]
        summary.update({f"f1_{kind}": _mean(defined), f"n_{kind}": len(defined)})
    return summary


def _length_bin_summary(
    lengths: list[int], f1: list[float], length_bins: Sequence[float]
) -> dict[str, float | int | None]:
    """``f1_len_<lo>_<hi>`` / ``n_len_<lo>_<hi>`` for each bin ``[lo, hi)`` of ``length_bins``."""
    summary: dict[str, float | int | None] = {}
    for low, high in itertools.pairwise(length_bins):
        in_bin = [value for length, value in zip(lengths, f1) if low <= length < high]
        name = "len_" + "_".join("inf" if math.isinf(e) else str(int(e)) for e in (low, high))
        summary.update({f"f1_{name}": _mean(in_bin), f"n_{name}": len(in_bin)})
    return summary


def score_structures(
    sequences: Sequence[str],
    preds: Sequence[Iterable[Sequence[int]]],
    trues: Sequence[Iterable[Sequence[int]]],
    probs: Sequence[np.ndarray] | None = None,
    length_bins: Sequence[float] = DEFAULT_LENGTH_BINS,
) -> dict[str, float | int | None]:
    """Score a set of predicted structures; return a flat, JSON-serialisable dict.

    Keys (``None`` where no sequence contributes):

    * ``n_sequences``;
    * ``precision``, ``recall``, ``f1`` -- per-sequence means, strict; the same with suffix
      ``_shift1`` for the +-1 shift-tolerant scores;
    * ``pooled_precision``, ``pooled_recall``, ``pooled_f1`` (+ ``_shift1``) -- micro averages;
    * with ``probs`` (one ``L x L`` matrix per sequence): ``auprc`` (mean over sequences with at
      least one true pair), ``auprc_n`` (sequences averaged) and ``auprc_n_nan`` (sequences
      skipped for having no true pair);
    * ``f1_<type>`` and ``n_<type>`` for each of :data:`PAIR_TYPES` -- mean strict F1 after
      restricting both structures to pairs of that type, over the sequences where the type occurs
      in the prediction or the truth (``n_<type>`` of them);
    * ``f1_len_<lo>_<hi>`` and ``n_len_<lo>_<hi>`` -- mean strict F1 of the sequences whose length
      is in ``[lo, hi)``, and their number, for consecutive edges of ``length_bins``.

    Raises :class:`ValueError` for no sequences, inputs of unequal number, pairs out of range for
    their sequence, a probability matrix of the wrong shape or badly ordered ``length_bins``.
    """
    _check_inputs(sequences, preds, trues, probs, length_bins)
    pred_lists = [validate_pairs(p, len(s), allow_multiplets=True) for s, p in zip(sequences, preds)]
    true_lists = [validate_pairs(t, len(s), allow_multiplets=True) for s, t in zip(sequences, trues)]
    strict = [pair_scores(p, t) for p, t in zip(pred_lists, true_lists)]
    shifted = [pair_scores(p, t, shift=1) for p, t in zip(pred_lists, true_lists)]
    result: dict[str, float | int | None] = {"n_sequences": len(sequences)}
    result.update(_prf_summary(strict, suffix=""))
    result.update(_prf_summary(shifted, suffix="_shift1"))
    if probs is not None:
        result.update(_auprc_summary(probs, true_lists))
    result.update(_pair_type_summary(sequences, pred_lists, true_lists))
    result.update(_length_bin_summary([len(s) for s in sequences], [s["f1"] for s in strict], length_bins))
    return result


def _check_inputs(
    sequences: Sequence[str],
    preds: Sequence,
    trues: Sequence,
    probs: Sequence[np.ndarray] | None,
    length_bins: Sequence[float],
) -> None:
    """Raise :class:`ValueError` for empty or unequal inputs, bad matrix shapes or length bins."""
    counts = {"sequences": len(sequences), "preds": len(preds), "trues": len(trues)}
    if probs is not None:
        counts["probs"] = len(probs)
    if len(set(counts.values())) > 1:
        raise ValueError(f"inputs must have equal lengths, got {counts}")
    if not sequences:
        raise ValueError("no sequences to score")
    if len(length_bins) < 2 or any(a >= b for a, b in itertools.pairwise(length_bins)):
        raise ValueError(f"length_bins must hold at least two strictly increasing edges, got {length_bins}")
    for index, (sequence, matrix) in enumerate(zip(sequences, [] if probs is None else probs)):
        if np.shape(matrix) != (len(sequence), len(sequence)):
            raise ValueError(
                f"probs[{index}] has shape {np.shape(matrix)}, expected ({len(sequence)}, {len(sequence)})"
            )


def precision_at_l(
    probabilities: np.ndarray, true_pairs: Sequence[Pair], min_separation: int = 6
) -> float:
    """Precision of the ``L`` highest-probability entries with ``j − i ≥ min_separation`` (ESM's P@L).

    ``L`` is the sequence length (all candidates if there are fewer). Ties are broken by position.
    """
    probabilities = np.asarray(probabilities)
    length = probabilities.shape[0]
    rows, cols = np.triu_indices(length, k=min_separation)
    if rows.size == 0:
        raise ValueError(f"a sequence of length {length} has no pair with j - i >= {min_separation}")
    top = np.argsort(-probabilities[rows, cols], kind="stable")[:length]
    truth = pairs_to_matrix(true_pairs, length)
    return float(truth[rows[top], cols[top]].mean())
