"""Calibrated confidence of the floor: expected C4' lDDT from what the 2D says, four numbers fitted.

The floor (:func:`~modeling_ssrlm.fold3d.geometry.floor_frames`) has no learned parameters, so how
good it is depends on the 2D it is built on and on the chain, not on training data it could have
memorised. A learned pLDDT head on the trunk's single representation, trained on a few dozen chains,
ranks the validation chains but not chains unlike them; a linear model of a residue's lDDT on three
features of the 2D has nothing to overfit:

* ``paired``: the residue is paired in the decoded 2D (helices are built from ideal geometry, loops
  are placed by restraints);
* ``state_probability``: the source's probability of the residue's decoded state (its pair's
  probability when paired, its probability of being unpaired otherwise) — how sure the 2D is;
* ``log_length``: log of the chain length (the longer the chain, the more tertiary structure the
  floor lacks).

:func:`fit_calibration` fits the coefficients by least squares on the per-residue floor lDDT of
chains with known structure (``fold3d.py calibrate``); the model config keeps them as
``floor_plddt_calibration`` and :func:`calibrated_plddt` applies them, clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: Order of the coefficients in ``floor_plddt_calibration``.
CALIBRATION_FEATURES = ("bias", "paired", "state_probability", "log_length")


def calibration_features(probabilities: torch.Tensor, pairs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-residue features ``(B, L, 4)`` (:data:`CALIBRATION_FEATURES`) from the 2D inputs of the model.

    Args:
        probabilities: ``(B, L, L)`` symmetric base-pair probabilities.
        pairs: ``(B, L, L)`` symmetric 0/1 decoded pairs.
        mask: ``(B, L)`` 1 at residues, 0 at padding (padded rows get features 0).
    """
    mask = mask.to(probabilities.dtype)
    pair_mask = mask[:, :, None] * mask[:, None, :]
    probabilities, pairs = probabilities * pair_mask, pairs.to(probabilities.dtype) * pair_mask
    paired = pairs.sum(-1).clamp_max(1.0)
    pair_probability = (probabilities * pairs).sum(-1)
    unpaired_probability = (1.0 - probabilities.sum(-1)).clamp(0.0, 1.0)
    state = torch.where(paired > 0, pair_probability, unpaired_probability)
    log_length = torch.log(mask.sum(-1).clamp_min(1.0))[:, None].expand_as(paired)
    features = torch.stack([torch.ones_like(paired), paired, state, log_length], dim=-1)
    return features * mask[..., None]


def calibrated_plddt(features: torch.Tensor, coefficients: Sequence[float]) -> torch.Tensor:
    """Expected lDDT ``(B, L)`` in [0, 1]: ``features @ coefficients``, clipped."""
    if len(coefficients) != len(CALIBRATION_FEATURES):
        raise ValueError(f"need {len(CALIBRATION_FEATURES)} coefficients {CALIBRATION_FEATURES}, got {len(coefficients)}")
    weights = torch.tensor(list(coefficients), dtype=features.dtype, device=features.device)
    return (features @ weights).clamp(0.0, 1.0)


def fit_calibration(features: Sequence[np.ndarray], residue_lddt: Sequence[np.ndarray]) -> list[float]:
    """Least-squares coefficients from per-chain features ``(L, 4)`` and per-residue lDDT ``(L,)``.

    Residues whose lDDT is NaN (no reference atom, or no neighbour within the lDDT radius) are left out.
    """
    if len(features) != len(residue_lddt) or not features:
        raise ValueError("need one residue-lDDT array per feature array, and at least one chain")
    x = np.concatenate([np.asarray(f, np.float64) for f in features])
    y = np.concatenate([np.asarray(s, np.float64) for s in residue_lddt])
    if x.shape != (len(y), len(CALIBRATION_FEATURES)):
        raise ValueError(f"features must be (L, {len(CALIBRATION_FEATURES)}) per chain, matching the lDDT arrays")
    keep = np.isfinite(y)
    if keep.sum() < len(CALIBRATION_FEATURES):
        raise ValueError(f"need at least {len(CALIBRATION_FEATURES)} residues with an lDDT to fit the calibration")
    coefficients, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
    return [float(c) for c in coefficients]


__all__ = ["CALIBRATION_FEATURES", "calibrated_plddt", "calibration_features", "fit_calibration"]
