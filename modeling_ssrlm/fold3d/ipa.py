"""Invariant point attention (IPA), AlphaFold 2 supplementary Algorithm 22.

Each residue attends to the others with three kinds of evidence: scalar query/key products, a
bias from the pair representation, and squared distances between query and key *points* that
are predicted in the residue's local frame and mapped to global coordinates. Outputs include
value points mapped back into the receiving residue's frame, so the result is invariant to any
global rotation and translation applied to all frames (tested in ``tests/test_fold3d_model.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .rigid import Rigid


class InvariantPointAttention(nn.Module):
    """IPA over single representation ``s`` with pair bias from ``z`` and frames ``T``.

    Args:
        single_dim: channels of ``s``.
        pair_dim: channels of ``z``.
        num_heads: attention heads.
        head_dim: scalar query/key/value channels per head.
        num_query_points: query/key points per head.
        num_value_points: value points per head.
    """

    def __init__(self, single_dim: int, pair_dim: int, num_heads: int = 4, head_dim: int = 16,
                 num_query_points: int = 4, num_value_points: int = 8) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.num_query_points = num_query_points
        self.num_value_points = num_value_points
        self.to_qkv = nn.Linear(single_dim, 3 * num_heads * head_dim, bias=False)
        self.to_qk_points = nn.Linear(single_dim, 2 * num_heads * num_query_points * 3)
        self.to_v_points = nn.Linear(single_dim, num_heads * num_value_points * 3)
        self.to_pair_bias = nn.Linear(pair_dim, num_heads, bias=False)
        # softplus(0.541) ≈ 1, the initial per-head weight of the point term (as in AlphaFold).
        self.head_weights = nn.Parameter(torch.full((num_heads,), 0.541324854612918))
        out_channels = num_heads * (head_dim + pair_dim + num_value_points * 4)
        self.to_out = nn.Linear(out_channels, single_dim)

    def forward(self, single: torch.Tensor, pair: torch.Tensor, frames: Rigid,
                mask: torch.Tensor) -> torch.Tensor:
        """Update for ``single``.

        Args:
            single: ``(B, L, single_dim)``.
            pair: ``(B, L, L, pair_dim)``.
            frames: ``Rigid`` with batch shape ``(B, L)``, translations in Å.
            mask: ``(B, L)``, 1 for residues, 0 for padding.

        Returns:
            ``(B, L, single_dim)``.
        """
        batch, length, _ = single.shape
        heads, qp, vp = self.num_heads, self.num_query_points, self.num_value_points
        q, k, v = self.to_qkv(single).view(batch, length, heads, 3 * self.head_dim).chunk(3, dim=-1)

        local_qk = self.to_qk_points(single).view(batch, length, heads, 2 * qp, 3)
        global_qk = frames.unsqueeze(-1).unsqueeze(-1).apply(local_qk)
        q_points, k_points = global_qk.split(qp, dim=-2)
        local_v = self.to_v_points(single).view(batch, length, heads, vp, 3)
        v_points = frames.unsqueeze(-1).unsqueeze(-1).apply(local_v)

        scalar_logits = torch.einsum("bihc,bjhc->bhij", q, k) / math.sqrt(self.head_dim)
        pair_bias = self.to_pair_bias(pair).permute(0, 3, 1, 2)
        point_distance = ((q_points[:, :, None] - k_points[:, None, :]) ** 2).sum(dim=(-1, -2))  # (B, i, j, H)
        point_weight = F.softplus(self.head_weights) * math.sqrt(2.0 / (9.0 * qp)) / 2.0
        point_logits = -point_weight[None, :, None, None] * point_distance.permute(0, 3, 1, 2)
        logits = math.sqrt(1.0 / 3.0) * (scalar_logits + pair_bias + point_logits)
        pair_mask = (mask[:, None, :, None] * mask[:, None, None, :]).bool()
        logits = logits.masked_fill(~pair_mask, torch.finfo(logits.dtype).min)
        attention = torch.softmax(logits, dim=-1)  # (B, H, i, j)

        out_scalar = torch.einsum("bhij,bjhc->bihc", attention, v)
        out_global_points = torch.einsum("bhij,bjhpx->bihpx", attention, v_points)
        out_points = frames.unsqueeze(-1).unsqueeze(-1).invert_apply(out_global_points)
        out_point_norm = torch.sqrt((out_points**2).sum(-1) + 1e-8)
        out_pair = torch.einsum("bhij,bijc->bihc", attention, pair)
        features = torch.cat(
            [
                out_scalar.reshape(batch, length, -1),
                out_points.reshape(batch, length, -1),
                out_point_norm.reshape(batch, length, -1),
                out_pair.reshape(batch, length, -1),
            ],
            dim=-1,
        )
        return self.to_out(features)
