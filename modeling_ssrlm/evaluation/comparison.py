"""Comparing training arms run with several seeds on shared test units (the masking ablation's statistics).

A probe scores one model as :class:`UnitScores`: one value and one weight per *unit* (a test
sequence, or a held-out family), the statistic being the weighted mean. An arm (a masking strategy)
is a list of such scores, one per seed. Seeds are *paired* across arms when seed ``s`` of every arm
shares the initial weights and the data order (``train_mlm.py`` draws both from ``--seed``; only the
masks differ), so arm A's ``s``-th run is compared with arm B's ``s``-th.

* :func:`mean_sd`: mean and sample standard deviation over seeds of the per-seed statistics.
* :func:`paired_bootstrap`: hierarchical paired bootstrap of the difference ``A − B`` of the
  seed-averaged statistics. Each replicate resamples the units (with replacement, the same draw for
  both arms: they were scored on the same units) *and* the seeds (with replacement, the same seed
  indices for both arms: seeds are paired). Returns the observed difference, a percentile
  confidence interval and a two-sided bootstrap p-value. Resampling seeds keeps seed-to-seed
  variation in the interval: with few seeds the interval is wide, as it should be.
* :func:`sign_flip_test`: exact paired permutation test over seeds on the per-seed differences
  (two-sided, all ``2^S`` sign assignments). With ``S`` seeds the smallest attainable p is
  ``2 / 2^S`` (0.25 for 3 seeds, 0.0625 for 5): report it next to the bootstrap so that nobody
  reads a seed-level effect into 3 seeds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "UnitScores", "aligned", "mean_sd", "paired_bootstrap", "sign_flip_test"]


@dataclass
class UnitScores:
    """Per-unit values and weights of one model on one probe; the statistic is the weighted mean."""

    units: list[str]
    values: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        self.units = [str(unit) for unit in self.units]
        self.values = np.asarray(self.values, dtype=float)
        self.weights = np.asarray(self.weights, dtype=float)
        if not len(self.units) == len(self.values) == len(self.weights):
            raise ValueError(
                f"units, values and weights differ in length: {len(self.units)}, {len(self.values)}, {len(self.weights)}"
            )
        if len(set(self.units)) != len(self.units):
            raise ValueError("units must be distinct")
        if (self.weights < 0).any():
            raise ValueError("weights must be non-negative")

    def mean(self) -> float:
        """The weighted mean (``nan`` without weight)."""
        total = self.weights.sum()
        return float((self.values * self.weights).sum() / total) if total > 0 else math.nan

    def to_json(self) -> dict:
        return {"units": self.units, "values": self.values.tolist(), "weights": self.weights.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "UnitScores":
        return cls(data["units"], np.array(data["values"]), np.array(data["weights"]))


def aligned(runs: Sequence[UnitScores]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(units, values, weights)``, arrays ``(runs, units)`` over the units every run has, in sorted order."""
    if not runs:
        raise ValueError("no runs to align")
    common = sorted(set.intersection(*(set(run.units) for run in runs)))
    if not common:
        raise ValueError("the runs share no unit")
    values = np.empty((len(runs), len(common)))
    weights = np.empty((len(runs), len(common)))
    for row, run in enumerate(runs):
        where = {unit: index for index, unit in enumerate(run.units)}
        columns = [where[unit] for unit in common]
        values[row], weights[row] = run.values[columns], run.weights[columns]
    return common, values, weights


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``nan`` for a single value)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else math.nan


@dataclass
class Comparison:
    """``A − B`` of the seed-averaged statistics, its bootstrap interval and p-values."""

    difference: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_sign_flip: float
    p_sign_flip_min: float
    per_seed_differences: list[float]
    units: int
    seeds: int
    replicates: int
    confidence: float


def _statistics(values: np.ndarray, weights: np.ndarray, unit_counts: np.ndarray) -> np.ndarray:
    """Weighted means per (replicate, run): ``unit_counts`` ``(R, U)`` times ``values``/``weights`` ``(S, U)``."""
    return (unit_counts @ (values * weights).T) / (unit_counts @ weights.T)


def sign_flip_test(differences: Sequence[float]) -> tuple[float, float]:
    """Exact two-sided paired permutation p of the mean of ``differences``, and the smallest p attainable.

    Every one of the ``2^S`` sign assignments is enumerated; p is the fraction whose mean is at least
    as far from 0 as the observed one (ties counted, with a small tolerance for rounding).
    """
    diffs = np.asarray(differences, dtype=float)
    if len(diffs) == 0:
        raise ValueError("no differences")
    observed = abs(diffs.mean())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(diffs))))
    means = np.abs((signs * diffs).mean(axis=1))
    p = float((means >= observed - 1e-12).mean())
    return p, 2.0 / 2 ** len(diffs) if len(diffs) else 1.0


def paired_bootstrap(
    arm_a: Sequence[UnitScores],
    arm_b: Sequence[UnitScores],
    replicates: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    resample_seeds: bool = True,
) -> Comparison:
    """Hierarchical paired bootstrap of ``mean_seeds(stat(A)) − mean_seeds(stat(B))`` (module docstring).

    ``arm_a[s]`` and ``arm_b[s]`` are the runs of seed ``s`` (equally many per arm). Units are those
    every run shares. The p-value is two-sided, ``2 · min(P(d ≤ 0), P(d ≥ 0))`` over the replicates,
    with ``(k + 1) / (R + 1)`` for each tail so it is never 0. ``resample_seeds=False`` keeps the seeds
    fixed (unit-level uncertainty only).
    """
    if len(arm_a) != len(arm_b) or not arm_a:
        raise ValueError(f"paired arms need equally many (>0) seeds, got {len(arm_a)} and {len(arm_b)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    seeds = len(arm_a)
    units, values, weights = aligned([*arm_a, *arm_b])
    values_a, values_b = values[:seeds], values[seeds:]
    weights_a, weights_b = weights[:seeds], weights[seeds:]
    everything = np.ones((1, len(units)))
    per_seed = _statistics(values_a, weights_a, everything)[0] - _statistics(values_b, weights_b, everything)[0]
    observed = float(per_seed.mean())
    rng = np.random.default_rng(seed)
    unit_counts = rng.multinomial(len(units), np.full(len(units), 1 / len(units)), size=replicates).astype(float)
    if resample_seeds:
        seed_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=replicates).astype(float)
    else:
        seed_counts = np.ones((replicates, seeds))
    with np.errstate(invalid="ignore", divide="ignore"):
        differences = _statistics(values_a, weights_a, unit_counts) - _statistics(values_b, weights_b, unit_counts)
    boot = (differences * seed_counts).sum(axis=1) / seed_counts.sum(axis=1)
    boot = boot[np.isfinite(boot)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha]) if len(boot) else (math.nan, math.nan)
    below = (np.sum(boot <= 0) + 1) / (len(boot) + 1)
    above = (np.sum(boot >= 0) + 1) / (len(boot) + 1)
    p_flip, p_min = sign_flip_test(per_seed)
    return Comparison(
        difference=observed,
        ci_low=float(low),
        ci_high=float(high),
        p_bootstrap=float(min(1.0, 2 * min(below, above))),
        p_sign_flip=p_flip,
        p_sign_flip_min=p_min,
        per_seed_differences=per_seed.tolist(),
        units=len(units),
        seeds=seeds,
        replicates=len(boot),
        confidence=confidence,
    )
