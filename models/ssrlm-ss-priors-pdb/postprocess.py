"""Turn a predicted pair-probability matrix into a secondary structure (a pair list).

A structure head outputs an ``L x L`` matrix of pair probabilities; thresholding it alone can give
chemically implausible structures. :func:`postprocess` applies, in order (METHOD.md section 4):

1. **Threshold** -- keep ``probs[i, j] > threshold`` (strictly greater, so ``threshold=0`` keeps
   every non-zero entry and a probability equal to the threshold is dropped). Only the strict upper
   triangle ``i < j`` is read; pass a symmetric matrix.
2. **Canonical filter** (``canonical_only``) -- keep AU, GC and GU pairs (T read as U, case
   ignored; N and other letters never canonical), because almost all secondary-structure pairs in
   the reference data are of these types and the others are mostly false positives.
3. **No sharp loops** -- keep ``j - i > min_loop_length`` (default 3, i.e. ``|i - j| >= 4``): a
   hairpin must enclose at least three unpaired bases for steric reasons.
4. **One partner per base** (``matching``) -- dot-bracket, BPSEQ and CT hold at most one pair per
   base, so conflicts are resolved either ``"greedy"`` (take pairs by descending probability,
   skip any that reuses a base; ties broken by ``(i, j)``), or ``"max_weight"`` (the matching that
   maximises the summed probability, :func:`networkx.max_weight_matching`), or not at all
   (``"none"``: every pair left after steps 1-3, multiplets possible).

The AUPRC is computed on the raw matrix, without post-processing.
"""

from __future__ import annotations

import numpy as np

from .secondary_structure import Pair, base_pair_type
from .tokenization_ssrlm import to_rna

MATCHING_METHODS = ("greedy", "max_weight", "none")
_BASES = "ACGU"
# _CANONICAL[a, b]: whether bases _BASES[a] and _BASES[b] can form an AU, GC or GU pair; index 4
# (N) stands for every other letter and never pairs.
_CANONICAL = np.array([[base_pair_type(a, b) != "noncanonical" for b in _BASES + "N"] for a in _BASES + "N"])


def canonical_mask(sequence: str) -> np.ndarray:
    """Return the ``(L, L)`` boolean matrix that is True where bases ``i`` and ``j`` can form AU/GC/GU."""
    normalised = to_rna(sequence)
    codes = np.array([_BASES.find(base) for base in normalised], dtype=np.int64)
    codes[codes < 0] = len(_BASES)
    return _CANONICAL[codes[:, None], codes[None, :]]


def postprocess(
    probs: np.ndarray,
    sequence: str,
    threshold: float = 0.5,
    canonical_only: bool = True,
    min_loop_length: int = 3,
    matching: str = "greedy",
) -> list[Pair]:
    """Return the sorted pair list ``[(i, j), ...]`` (0-based, ``i < j``) predicted by ``probs``.

    See the module docstring for the steps. Raises :class:`ValueError` if ``probs`` is not a finite
    square matrix of side ``len(sequence)``, ``min_loop_length`` is negative or ``matching`` is not
    one of :data:`MATCHING_METHODS`.
    """
    probs = _check_probs(probs, sequence)
    if matching not in MATCHING_METHODS:
        raise ValueError(f"matching must be one of {MATCHING_METHODS}, got {matching!r}")
    if min_loop_length < 0:
        raise ValueError(f"min_loop_length must be >= 0, got {min_loop_length}")
    keep = np.triu(probs > threshold, k=min_loop_length + 1)
    if canonical_only:
        keep &= canonical_mask(sequence)
    rows, cols = np.nonzero(keep)
    candidates = [(int(i), int(j)) for i, j in zip(rows, cols)]
    weights = probs[rows, cols].tolist()
    if matching == "greedy":
        return _greedy_matching(candidates, weights)
    if matching == "max_weight":
        return _max_weight_matching(candidates, weights)
    return candidates


def _check_probs(probs: np.ndarray, sequence: str) -> np.ndarray:
    """Return ``probs`` as a float array, checking its shape against ``sequence`` and its values."""
    probs = np.asarray(probs, dtype=np.float64)
    length = len(sequence)
    if probs.shape != (length, length):
        raise ValueError(
            f"probs must have shape ({length}, {length}) for a sequence of length {length}, got {probs.shape}"
        )
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contains NaN or infinite values")
    return probs


def _greedy_matching(candidates: list[Pair], weights: list[float]) -> list[Pair]:
    """Accept pairs by descending weight (ties by position), skipping any that reuses a base."""
    used: set[int] = set()
    chosen = []
    for _, (i, j) in sorted(zip(weights, candidates), key=lambda item: (-item[0], item[1])):
        if i not in used and j not in used:
            used.update((i, j))
            chosen.append((i, j))
    return sorted(chosen)


def _max_weight_matching(candidates: list[Pair], weights: list[float]) -> list[Pair]:
    """Return the matching of maximal total weight among ``candidates``.

    Uses :func:`networkx.max_weight_matching` (blossom algorithm, cubic time) on each connected
    component of the candidate graph separately: components are independent, and in real
    predictions most are a single pair or a small cluster of competing pairs. Dense probability
    maps of long sequences (one component of thousands of candidates) take minutes; use
    ``"greedy"`` there.
    """
    import networkx as nx  # only this optional decoder needs it; keeps the shipped model light

    graph = nx.Graph()
    graph.add_weighted_edges_from((i, j, w) for (i, j), w in zip(candidates, weights))
    chosen = []
    for component in nx.connected_components(graph):
        chosen.extend(nx.max_weight_matching(graph.subgraph(component).copy(), maxcardinality=False))
    return sorted((min(i, j), max(i, j)) for i, j in chosen)
