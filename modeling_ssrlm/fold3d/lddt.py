"""Local Distance Difference Test (lDDT, Mariani et al., Bioinformatics 2013) on one atom per residue.

Variant implemented (the same as AlphaFold 2's ``lddt`` in ``model/lddt.py``, except for the
global average, see below):

* one representative atom per residue (C4' by default in this package);
* a pair ``(i, j)`` with ``i != j`` is scored when both atoms are present and their distance in
  the **reference** is below the inclusion radius (15 Å by default); pairs inside one residue do
  not exist with one atom per residue, so "exclude same-residue pairs" means ``i != j``;
* each scored pair gets the fraction of thresholds (0.5, 1, 2, 4 Å by default) that the absolute
  difference between predicted and reference distance is strictly below;
* per-residue lDDT = mean pair score over that residue's scored pairs;
* **global lDDT = mean of the per-residue scores over residues with at least one scored pair**
  (AlphaFold's global score instead pools all pairs; the two agree when every residue has the
  same number of neighbours).

The core works on batched torch tensors so the model can compute pLDDT targets with it; the
:func:`lddt` wrapper takes plain ``(N, 3)`` arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

DEFAULT_CUTOFF = 15.0
DEFAULT_THRESHOLDS = (0.5, 1.0, 2.0, 4.0)


def lddt_per_residue(
    predicted: torch.Tensor,
    reference: torch.Tensor,
    mask: torch.Tensor | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-residue lDDT of batched coordinates.

    Args:
        predicted: ``(..., N, 3)`` predicted coordinates.
        reference: ``(..., N, 3)`` reference coordinates.
        mask: ``(..., N)`` 1 where the reference atom exists; all ones when omitted.
        cutoff: inclusion radius in Å, applied to reference distances.
        thresholds: distance-difference tolerances in Å.

    Returns:
        ``(scores, has_neighbours)``, both ``(..., N)``: the per-residue lDDT (0 where a residue
        has no scored pair) and a boolean mask of residues with at least one scored pair.
    """
    if predicted.shape != reference.shape or predicted.shape[-1] != 3:
        raise ValueError(
            f"predicted and reference must both be (..., N, 3); got {tuple(predicted.shape)} "
            f"and {tuple(reference.shape)}"
        )
    if cutoff <= 0 or len(thresholds) == 0 or min(thresholds) <= 0:
        raise ValueError(f"cutoff and thresholds must be positive, got {cutoff} and {tuple(thresholds)}")
    if mask is None:
        mask = torch.ones(predicted.shape[:-1], dtype=predicted.dtype, device=predicted.device)
    mask = mask.to(predicted.dtype)
    d_ref = torch.cdist(reference, reference)
    d_pred = torch.cdist(predicted, predicted)
    n = predicted.shape[-2]
    off_diagonal = 1.0 - torch.eye(n, dtype=predicted.dtype, device=predicted.device)
    scored = (d_ref < cutoff).to(predicted.dtype) * mask[..., :, None] * mask[..., None, :] * off_diagonal
    difference = (d_ref - d_pred).abs()
    pair_score = torch.stack([(difference < t).to(predicted.dtype) for t in thresholds]).mean(dim=0)
    n_scored = scored.sum(dim=-1)
    scores = (pair_score * scored).sum(dim=-1) / n_scored.clamp_min(1.0)
    return scores, n_scored > 0


def lddt(
    predicted: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
    cutoff: float = DEFAULT_CUTOFF,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    per_residue: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Global lDDT of one structure given as ``(N, 3)`` coordinates (one atom per residue).

    Args:
        predicted, reference: ``(N, 3)`` coordinates in Å, residue ``i`` in both.
        mask: ``(N,)`` booleans, False for residues missing in the reference.
        cutoff, thresholds: see :func:`lddt_per_residue`.
        per_residue: also return the per-residue scores (NaN where a residue has no scored pair).

    Returns:
        The global score in [0, 1] (NaN when no pair is scored), or ``(score, per_residue_scores)``.
    """
    pred = torch.as_tensor(np.asarray(predicted, dtype=np.float64))
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    if pred.ndim != 2 or pred.shape[1] != 3 or ref.shape != pred.shape:
        raise ValueError(f"lddt expects two (N, 3) arrays, got shapes {tuple(pred.shape)} and {tuple(ref.shape)}")
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=np.float64))
    if m is not None and m.shape != pred.shape[:1]:
        raise ValueError(f"mask must have shape ({pred.shape[0]},), got {tuple(m.shape)}")
    scores, has_neighbours = lddt_per_residue(pred, ref, m, cutoff, thresholds)
    residue_scores = np.where(has_neighbours.numpy(), scores.numpy(), np.nan)
    global_score = float(np.nanmean(residue_scores)) if has_neighbours.any() else float("nan")
    return (global_score, residue_scores) if per_residue else global_score
