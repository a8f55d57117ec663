"""Rigid-body maths for the structure module: rotations, quaternions and rigid transforms.

A rigid transform ``T = (R, t)`` maps local coordinates ``x`` to global coordinates ``R x + t``.
Everything works on arbitrary leading batch dimensions, so a tensor of frames with shape
``(B, L)`` holds rotations ``(B, L, 3, 3)`` and translations ``(B, L, 3)``.

Conventions follow AlphaFold 2 (supplementary Algorithms 21-23): frames are built from three
points by Gram-Schmidt, and the backbone update is a quaternion ``(1, b, c, d)`` normalised to
unit length plus a translation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EPS = 1e-8


def quaternion_to_rotation(quaternion: torch.Tensor) -> torch.Tensor:
    """Convert quaternions ``(..., 4)`` in ``(w, x, y, z)`` order to rotation matrices ``(..., 3, 3)``.

    The quaternion is normalised first, so any non-zero 4-vector is accepted.
    """
    if quaternion.shape[-1] != 4:
        raise ValueError(f"quaternion must have last dimension 4, got shape {tuple(quaternion.shape)}")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def quaternion_multiply(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``q1 * q2`` of quaternions in ``(w, x, y, z)`` order.

    ``quaternion_to_rotation(q1 * q2) == quaternion_to_rotation(q1) @ quaternion_to_rotation(q2)``.
    """
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    return torch.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        dim=-1,
    )


def random_rotation(*batch_shape: int, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniformly random rotation matrices (normalised Gaussian quaternions), shape ``(*batch, 3, 3)``."""
    return quaternion_to_rotation(torch.randn(*batch_shape, 4, generator=generator, dtype=dtype))


@dataclass
class Rigid:
    """A batch of rigid transforms ``x -> rots @ x + trans``.

    Attributes:
        rots: rotation matrices, shape ``(..., 3, 3)``.
        trans: translations, shape ``(..., 3)``.
    """

    rots: torch.Tensor
    trans: torch.Tensor

    def __post_init__(self) -> None:
        if self.rots.shape[-2:] != (3, 3) or self.trans.shape[-1] != 3:
            raise ValueError(
                f"Rigid needs rots (..., 3, 3) and trans (..., 3), got {tuple(self.rots.shape)} "
                f"and {tuple(self.trans.shape)}"
            )
        if self.rots.shape[:-2] != self.trans.shape[:-1]:
            raise ValueError(
                f"Rigid batch shapes differ: rots {tuple(self.rots.shape[:-2])} vs trans {tuple(self.trans.shape[:-1])}"
            )

    @property
    def shape(self) -> torch.Size:
        """Batch shape of the transforms."""
        return self.trans.shape[:-1]

    @classmethod
    def identity(cls, *batch_shape: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> Rigid:
        """Identity transforms with the given batch shape."""
        rots = torch.eye(3, dtype=dtype, device=device).expand(*batch_shape, 3, 3).clone()
        return cls(rots, torch.zeros(*batch_shape, 3, dtype=dtype, device=device))

    @classmethod
    def from_3_points(cls, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> Rigid:
        """Frame from three points by Gram-Schmidt (AlphaFold 2 Algorithm 21).

        The origin is ``x2``; the first axis points from ``x2`` to ``x3``; the second axis lies in
        the plane of the three points, on the side of ``x1``; the third is their cross product.
        For nucleotides we call it with ``(P, C4', N1/N9)`` so the origin is C4'.
        """
        v1 = x3 - x2
        v2 = x1 - x2
        e1 = v1 / v1.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        u2 = v2 - e1 * (e1 * v2).sum(dim=-1, keepdim=True)
        e2 = u2 / u2.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        e3 = torch.cross(e1, e2, dim=-1)
        return cls(torch.stack([e1, e2, e3], dim=-1), x2)

    @classmethod
    def from_quaternion_update(cls, update: torch.Tensor) -> Rigid:
        """Transform from a 6-vector ``(b, c, d, tx, ty, tz)``: rotation of quaternion ``(1, b, c, d)``.

        With a zero update this is the identity, which is why AlphaFold initialises the last
        layer that produces it to zero.
        """
        if update.shape[-1] != 6:
            raise ValueError(f"update must have last dimension 6, got shape {tuple(update.shape)}")
        quaternion = torch.cat([torch.ones_like(update[..., :1]), update[..., :3]], dim=-1)
        return cls(quaternion_to_rotation(quaternion), update[..., 3:])

    def compose(self, other: Rigid) -> Rigid:
        """``self ∘ other``: apply ``other`` first, then ``self``."""
        rots = self.rots @ other.rots
        trans = (self.rots @ other.trans.unsqueeze(-1)).squeeze(-1) + self.trans
        return Rigid(rots, trans)

    def invert(self) -> Rigid:
        """Inverse transform ``x -> R^T (x - t)``."""
        rots_t = self.rots.transpose(-1, -2)
        return Rigid(rots_t, -(rots_t @ self.trans.unsqueeze(-1)).squeeze(-1))

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Map local points ``(..., 3)`` to global ones; batch dims must broadcast with ``self.shape``."""
        return (self.rots @ points.unsqueeze(-1)).squeeze(-1) + self.trans

    def invert_apply(self, points: torch.Tensor) -> torch.Tensor:
        """Map global points ``(..., 3)`` into the local frame: ``R^T (x - t)``."""
        return (self.rots.transpose(-1, -2) @ (points - self.trans).unsqueeze(-1)).squeeze(-1)

    def unsqueeze(self, dim: int) -> Rigid:
        """Insert a batch dimension at ``dim`` (counted over the batch dims only; use negatives)."""
        if dim >= 0:
            raise ValueError("Rigid.unsqueeze expects a negative batch dimension, e.g. -1 or -2")
        return Rigid(self.rots.unsqueeze(dim - 2), self.trans.unsqueeze(dim - 1))

    def detach_rotation(self) -> Rigid:
        """Stop the gradient through the rotations (AlphaFold does this between IPA iterations)."""
        return Rigid(self.rots.detach(), self.trans)

    def scale_translation(self, factor: float) -> Rigid:
        """Transform with the translation multiplied by ``factor`` (for unit changes nm <-> Å)."""
        return Rigid(self.rots, self.trans * factor)
