"""Training losses of the structure model: clamped FAPE, distogram and pLDDT cross-entropy.

* FAPE (frame aligned point error, AlphaFold 2 Algorithm 28): every atom is expressed in every
  residue's frame, in the prediction and in the reference; the error is the distance between the
  two, clamped at ``clamp`` Å and divided by ``length_scale`` Å. It is invariant to a global
  rotation and translation of either structure.
* Distogram: cross-entropy of binned reference C4'-C4' distances.
* pLDDT: cross-entropy of the binned per-residue C4' lDDT of the (detached) prediction.
* smooth lDDT: AlphaFold 3's differentiable C4' lDDT, as ``1 - score``.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .lddt import lddt_per_residue
from .rigid import Rigid

_EPS = 1e-8


def fape(pred_frames: Rigid, pred_atoms: torch.Tensor, true_frames: Rigid, true_atoms: torch.Tensor,
         frame_mask: torch.Tensor, atom_mask: torch.Tensor, clamp: float = 10.0,
         length_scale: float = 10.0) -> torch.Tensor:
    """Clamped FAPE averaged over present (frame, atom) pairs of each structure, then over the batch.

    Args:
        pred_frames, true_frames: ``Rigid`` with batch shape ``(B, L)``.
        pred_atoms, true_atoms: ``(B, L, A, 3)`` (or ``(B, M, 3)``) atom coordinates in Å.
        frame_mask: ``(B, L)``, 1 where the reference frame exists.
        atom_mask: ``(B, L, A)`` (or ``(B, M)``), 1 where the reference atom exists.
        clamp: distance (Å) above which errors stop growing.
        length_scale: divisor (Å) that makes the loss unitless.

    Returns:
        scalar tensor.
    """
    batch = pred_atoms.shape[0]
    pred_points = pred_atoms.reshape(batch, 1, -1, 3)
    true_points = true_atoms.reshape(batch, 1, -1, 3)
    points_mask = atom_mask.reshape(batch, 1, -1).to(pred_atoms.dtype)
    local_pred = pred_frames.unsqueeze(-1).invert_apply(pred_points)  # (B, L, M, 3)
    local_true = true_frames.unsqueeze(-1).invert_apply(true_points)
    error = torch.sqrt(((local_pred - local_true) ** 2).sum(-1) + _EPS).clamp_max(clamp) / length_scale
    weights = frame_mask.to(pred_atoms.dtype)[:, :, None] * points_mask
    per_structure = (error * weights).sum(dim=(1, 2)) / weights.sum(dim=(1, 2)).clamp_min(1.0)
    return per_structure.mean()


def distance_bins(min_distance: float, max_distance: float, num_bins: int,
                  device: torch.device | None = None) -> torch.Tensor:
    """Inner bin edges ``(num_bins - 1,)``: bin 0 is below ``min_distance``, the last bin above ``max_distance``."""
    return torch.linspace(min_distance, max_distance, num_bins - 1, device=device)


def distogram_loss(logits: torch.Tensor, true_points: torch.Tensor, mask: torch.Tensor,
                   min_distance: float, max_distance: float) -> torch.Tensor:
    """Cross-entropy of binned reference distances, averaged over present pairs ``i != j``.

    Args:
        logits: ``(B, L, L, num_bins)``.
        true_points: ``(B, L, 3)`` reference C4' coordinates.
        mask: ``(B, L)``, 1 where the reference atom exists.
    """
    num_bins = logits.shape[-1]
    edges = distance_bins(min_distance, max_distance, num_bins, device=logits.device)
    targets = torch.bucketize(torch.cdist(true_points, true_points), edges)
    length = mask.shape[1]
    pair_mask = mask[:, :, None] * mask[:, None, :] * (1 - torch.eye(length, device=mask.device))
    loss = F.cross_entropy(logits.permute(0, 3, 1, 2), targets, reduction="none")
    return (loss * pair_mask).sum() / pair_mask.sum().clamp_min(1.0)


def plddt_bin_centers(num_bins: int, device: torch.device | None = None) -> torch.Tensor:
    """Centres of ``num_bins`` equal lDDT bins on [0, 1]."""
    return (torch.arange(num_bins, device=device, dtype=torch.float32) + 0.5) / num_bins


def plddt_loss(logits: torch.Tensor, pred_points: torch.Tensor, true_points: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between pLDDT logits ``(B, L, num_bins)`` and the binned true per-residue lDDT.

    The lDDT of the prediction against the reference is computed without gradient, on C4'
    (``pred_points``/``true_points``: ``(B, L, 3)``); residues without a scored neighbour are skipped.
    """
    num_bins = logits.shape[-1]
    with torch.no_grad():
        scores, has_neighbours = lddt_per_residue(pred_points.detach().float(), true_points.float(), mask)
        targets = (scores * num_bins).long().clamp_max(num_bins - 1)
    weights = has_neighbours.to(logits.dtype) * mask.to(logits.dtype)
    loss = F.cross_entropy(logits.permute(0, 2, 1), targets, reduction="none")
    return (loss * weights).sum() / weights.sum().clamp_min(1.0)


def smooth_lddt_loss(pred_points: torch.Tensor, true_points: torch.Tensor, mask: torch.Tensor,
                     cutoff: float = 15.0, thresholds: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """``1 - smooth lDDT`` of C4' atoms (AlphaFold 3, Algorithm 27), averaged over the batch.

    The step function of lDDT (distance error below a threshold) becomes ``sigmoid(threshold -
    error)``; pairs are those within ``cutoff`` Å in the reference, ``i != j``, both present; pairs
    are pooled per structure (as AlphaFold 3 does). Chirality-blind, like lDDT: FAPE fixes handedness.

    Args:
        pred_points, true_points: ``(B, L, 3)``.
        mask: ``(B, L)``, 1 where the reference atom exists.
    """
    d_true = torch.cdist(true_points, true_points)
    d_pred = torch.sqrt(((pred_points[:, :, None] - pred_points[:, None, :]) ** 2).sum(-1) + _EPS)
    length = mask.shape[1]
    mask = mask.to(pred_points.dtype)
    off_diagonal = 1 - torch.eye(length, device=mask.device, dtype=mask.dtype)
    scored = (d_true < cutoff).to(mask.dtype) * mask[:, :, None] * mask[:, None, :] * off_diagonal
    error = (d_true - d_pred).abs()
    score = torch.stack([torch.sigmoid(t - error) for t in thresholds]).mean(dim=0)
    per_structure = (score * scored).sum(dim=(1, 2)) / scored.sum(dim=(1, 2)).clamp_min(1.0)
    return 1.0 - per_structure.mean()
