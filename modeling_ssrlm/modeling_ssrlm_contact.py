"""Unsupervised secondary structure from attention maps (ESM-style contact regression; paper §3.3.1).

For every layer ``l`` and head ``h`` of a frozen SSR-LM, the attention probabilities over the
nucleotides (``[CLS]``/``[EOS]`` rows and columns removed) are symmetrised (``A + Aᵀ``) and
APC-corrected (``A − rowsum·colsum / total``, i.e. ``A − rowmean·colmean / mean``); the ``L·H``
values at ``(i, j)`` are the features of a logistic regression

    p(c_ij) = σ(β₀ + Σ_lh β_lh a_ij^lh),

fitted with an L1 penalty on a handful of labelled sequences (20 in the paper, with 20 more to
choose the decision threshold) over the pairs with ``j − i ≥ 6``. No gradient reaches the LM: the
attention maps are computed under ``torch.no_grad`` and the regression is fitted by scikit-learn
(:func:`modeling_ssrlm.training.contact_regression.fit_contact_regression`, not shipped).

Penalty: the paper's objective (appendix A.1.2, eq. 4) weighs ``‖β‖₁`` by ``1/λ`` against the summed
log-likelihood, with ``λ = 0.15``. scikit-learn's ``liblinear`` solver minimises
``‖w‖₁ + C·Σ log-loss``, equivalently ``(1/C)‖w‖₁ + Σ log-loss``, so ``C = λ = 0.15``
(the value ESM's contact regression uses). liblinear also penalises the intercept (as a feature of
constant 1); with tens of thousands of training entries this is negligible.

Storage: :class:`SSRLMForContactRegression` is an ordinary ``PreTrainedModel`` holding the encoder
(``self.model``, loadable from an MLM folder) and :class:`SSRLMAttentionContactHead`, a
``Linear(L·H, 1)`` whose weight and bias are copied from scikit-learn. ``save_pretrained`` therefore
writes the fitted coefficients into ``model.safetensors`` next to the encoder, and the decision
settings (``pair_threshold``, ``pair_min_separation = 6`` and post-processing) into ``config.json``;
``from_pretrained`` restores both, and ``predict`` works as for the supervised model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .configuration_ssrlm import SSRLMConfig
from .modeling_ssrlm import SSRLMModel, SSRLMPreTrainedModel
from .modeling_ssrlm_pair import (
    PairPredictionMixin,
    PairPredictionOutput,
    residue_mask,
    scored_pair_mask,
)

__all__ = [
    "SSRLMAttentionContactHead",
    "SSRLMForContactRegression",
    "apc",
    "attention_features",
    "symmetrize",
]

#: Minimum sequence separation ``j − i`` of the pairs the regression is fitted and scored on (ESM's k).
DEFAULT_MIN_SEPARATION = 6
#: The paper's (and ESM's) L1 regularisation strength λ.
DEFAULT_L1_LAMBDA = 0.15


def symmetrize(maps: torch.Tensor) -> torch.Tensor:
    """``A + Aᵀ`` over the last two dimensions."""
    return maps + maps.transpose(-1, -2)


def apc(maps: torch.Tensor) -> torch.Tensor:
    """Average product correction over the last two dimensions: ``A − rowsum·colsum / total``.

    Zero rows/columns (padding) do not change the sums, so a zero-padded map gets the same
    correction on its real entries as the unpadded map (the padded entries must be re-zeroed).
    """
    row = maps.sum(dim=-1, keepdim=True)
    col = maps.sum(dim=-2, keepdim=True)
    total = maps.sum(dim=(-1, -2), keepdim=True)
    return maps - row * col / torch.where(total == 0, torch.ones_like(total), total)


def attention_features(attentions: Sequence[torch.Tensor], residues: torch.Tensor) -> torch.Tensor:
    """Per-layer attention maps → ``(batch, L, L, layers·heads)`` symmetrised, APC-corrected features.

    ``attentions`` holds one ``(batch, heads, tokens, tokens)`` tensor per layer (``[CLS] x [EOS]``
    rows, right-padded); ``residues`` is :func:`~modeling_ssrlm.modeling_ssrlm_pair.residue_mask`.
    Feature ``l·H + h`` is layer ``l``, head ``h``. Padded rows/columns are 0.
    """
    maps = torch.stack(tuple(attentions), dim=1).flatten(1, 2).float()
    length = residues.shape[1]
    valid = (residues[:, :, None] & residues[:, None, :])[:, None].to(maps.dtype)
    maps = maps[:, :, 1 : 1 + length, 1 : 1 + length] * valid
    return (apc(symmetrize(maps)) * valid).permute(0, 2, 3, 1)


class SSRLMAttentionContactHead(nn.Module):
    """Logistic regression over the ``layers·heads`` attention features of each position pair."""

    def __init__(self, num_features: int):
        super().__init__()
        self.regression = nn.Linear(num_features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, L, L, features)`` → logits ``(batch, L, L)``."""
        return self.regression(features).squeeze(-1)


class SSRLMForContactRegression(PairPredictionMixin, SSRLMPreTrainedModel):
    """Frozen SSR-LM + attention contact regression (unsupervised secondary structure).

    Attention probabilities are only available from the eager backend, so this class declares no
    SDPA/flash support and always runs eager. Fit it with :func:`fit_contact_regression`.
    """

    _supports_sdpa = False
    _supports_flash_attn = False
    _supports_attention_backend = False

    def __init__(self, config: SSRLMConfig):
        super().__init__(config)
        self.model = SSRLMModel(config)
        self.contact_head = SSRLMAttentionContactHead(config.num_hidden_layers * config.num_attention_heads)
        self.model.requires_grad_(False)
        self.post_init()

    @torch.no_grad()
    def contact_features(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(features (B, L, L, layers·heads), residue mask (B, L))`` from the frozen encoder."""
        if self.config._attn_implementation != "eager":
            raise ValueError(
                f"attention maps need the eager backend, got {self.config._attn_implementation!r}; "
                "call model.set_attn_implementation('eager')"
            )
        residues = residue_mask(input_ids, attention_mask, self.config)
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True)
        return attention_features(outputs.attentions, residues), residues

    def forward(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> PairPredictionOutput:
        r"""
        Args:
            input_ids / attention_mask: right-padded ``[CLS] x [EOS]`` rows, one sequence per row.

        Returns pair logits ``(batch, L_max, L_max)`` (padded rows/columns at the dtype's minimum) and
        ``pair_mask`` (``j − i ≥ config.pair_min_separation``). No loss: the head is fitted in closed
        form by :func:`fit_contact_regression`, not by gradient descent.
        """
        if kwargs:
            raise ValueError(f"unsupported arguments: {sorted(kwargs)}")
        features, residues = self.contact_features(input_ids, attention_mask)
        logits = self.contact_head(features)
        valid = residues[:, :, None] & residues[:, None, :]
        logits = logits.masked_fill(~valid, torch.finfo(logits.dtype).min)
        return PairPredictionOutput(logits=logits, pair_mask=scored_pair_mask(residues, self.config.pair_min_separation))
