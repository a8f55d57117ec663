"""Reliability of a pair model's probabilities: do pairs predicted at p happen a fraction p of the time?

Every scored entry ``(i, j)`` of the upper triangle (``j − i ≥`` the model's ``pair_min_separation``)
of every sequence is one prediction; entries are binned by probability and each bin's mean
probability is set against the fraction of its entries that are true pairs. The expected calibration
error (ECE) is the entry-weighted mean gap over the bins. A head whose outputs stop below some value
(a ceiling) or repeat one value for many candidates (ties) shows up in :func:`probability_summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..secondary_structure import Pair, pairs_to_matrix

__all__ = ["Reliability", "probability_summary", "reliability"]


@dataclass
class Reliability:
    """Per-bin counts and means (bins of equal width on [0, 1]) and the expected calibration error."""

    edges: list[float]
    counts: list[int]
    mean_probability: list[float | None]
    observed_frequency: list[float | None]
    ece: float


def _scored_entries(probabilities: np.ndarray, truth: Sequence[Pair], min_separation: int) -> tuple[np.ndarray, np.ndarray]:
    length = probabilities.shape[0]
    rows, cols = np.triu_indices(length, k=max(min_separation, 1))
    labels = pairs_to_matrix(truth, length)[rows, cols] if length else np.zeros(0)
    return np.asarray(probabilities)[rows, cols], labels


def reliability(
    probabilities: Sequence[np.ndarray], truths: Sequence[Sequence[Pair]], min_separation: int = 1, bins: int = 10
) -> Reliability:
    """Bin every scored entry of every sequence by its probability; see the module docstring."""
    scored = [_scored_entries(p, t, min_separation) for p, t in zip(probabilities, truths)]
    values = np.concatenate([s[0] for s in scored]) if scored else np.zeros(0)
    labels = np.concatenate([s[1] for s in scored]) if scored else np.zeros(0)
    if values.size == 0:
        raise ValueError("no scored entries: give sequences long enough for the model's min separation")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(values, edges[1:-1]), 0, bins - 1)
    counts, means, observed = [], [], []
    gap = 0.0
    for b in range(bins):
        chosen = index == b
        n = int(chosen.sum())
        counts.append(n)
        means.append(float(values[chosen].mean()) if n else None)
        observed.append(float(labels[chosen].mean()) if n else None)
        if n:
            gap += n * abs(means[-1] - observed[-1])
    return Reliability(edges.tolist(), counts, means, observed, gap / values.size)


def probability_summary(probabilities: np.ndarray, top: int) -> dict[str, float | int]:
    """Maximum, and how many of the ``top`` highest upper-triangle values equal another of them exactly."""
    values = np.sort(np.asarray(probabilities)[np.triu_indices(probabilities.shape[0], k=1)])[::-1][:top]
    return {"max": float(values[0]) if values.size else 0.0, "tied_in_top": int(values.size - np.unique(values).size)}
