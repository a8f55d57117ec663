"""Unsupervised secondary structure from attention maps (ESM-style contact regression; paper §3.3.1).

For every layer ``l`` and head ``h`` of a frozen SSR-LM, the attention probabilities over the
nucleotides (``[CLS]``/``[EOS]`` rows and columns removed) are symmetrised (``A + Aᵀ``) and
APC-corrected (``A − rowsum·colsum / total``, i.e. ``A − rowmean·colmean / mean``); the ``L·H``
values at ``(i, j)`` are the features of a logistic regression

    p(c_ij) = σ(β₀ + Σ_lh β_lh a_ij^lh),

fitted with an L1 penalty on a handful of labelled sequences (20 in the paper, with 20 more to
choose the decision threshold) over the pairs with ``j − i ≥ 6``. No gradient reaches the LM: the
attention maps are computed under ``torch.no_grad`` and the regression is fitted by scikit-learn.

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
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from .configuration_ssrlm import SSRLMConfig
from .modeling_ssrlm import SSRLMModel, SSRLMPreTrainedModel
from .modeling_ssrlm_pair import (
    PairPredictionMixin,
    PairPredictionOutput,
    residue_mask,
    scored_pair_mask,
)
from .structure import Pair, pairs_to_matrix
from .tokenization_ssrlm import SSRLMTokenizer, normalize_sequence

__all__ = [
    "ContactRegressionFit",
    "SSRLMAttentionContactHead",
    "SSRLMForContactRegression",
    "apc",
    "attention_features",
    "fit_contact_regression",
    "precision_at_l",
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


def precision_at_l(
    probabilities: np.ndarray, true_pairs: Sequence[Pair], min_separation: int = DEFAULT_MIN_SEPARATION
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


@dataclass
class ContactRegressionFit:
    """Summary of :func:`fit_contact_regression`: training entries, positives and non-zero weights."""

    num_sequences: int
    num_entries: int
    num_positives: int
    num_nonzero_weights: int
    num_features: int


def _training_entries(
    model: SSRLMForContactRegression, sequence: str, pairs: Sequence[Pair], min_separation: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the entries ``j − i ≥ min_separation`` of one sequence."""
    encoded = SSRLMTokenizer()([sequence], return_tensors="pt").to(model.device)
    features, _ = model.contact_features(encoded["input_ids"], encoded["attention_mask"])
    length = len(sequence)
    rows, cols = np.triu_indices(length, k=min_separation)
    labels = pairs_to_matrix(pairs, length)[rows, cols]
    return features[0].cpu().numpy()[rows, cols], labels


def fit_contact_regression(
    model: SSRLMForContactRegression,
    sequences: Sequence[str],
    true_pairs: Sequence[Sequence[Pair]],
    l1_lambda: float = DEFAULT_L1_LAMBDA,
    min_separation: int = DEFAULT_MIN_SEPARATION,
    max_iter: int = 1000,
) -> ContactRegressionFit:
    """Fit the contact head of ``model`` in place on labelled sequences (the encoder stays frozen).

    Uses L1-penalised logistic regression (scikit-learn ``liblinear``, ``C = l1_lambda``; see the
    module docstring) over the entries with ``j − i ≥ min_separation``, copies the coefficients into
    ``model.contact_head`` and sets ``model.config.pair_min_separation``. Choose the decision
    threshold afterwards on separate validation sequences
    (:func:`~modeling_ssrlm.modeling_ssrlm_pair.choose_threshold`).
    """
    if len(sequences) != len(true_pairs) or not sequences:
        raise ValueError(f"need equally many (>0) sequences and structures, got {len(sequences)} and {len(true_pairs)}")
    if l1_lambda <= 0:
        raise ValueError(f"l1_lambda must be positive, got {l1_lambda}")
    model.eval()
    features, labels = [], []
    for index, (sequence, pairs) in enumerate(zip(sequences, true_pairs)):
        sequence = normalize_sequence(sequence)
        if len(sequence) <= min_separation:
            raise ValueError(f"sequence {index} ({len(sequence)} nt) has no pair with j - i >= {min_separation}")
        x, y = _training_entries(model, sequence, pairs, min_separation)
        features.append(x)
        labels.append(y)
    x, y = np.concatenate(features), np.concatenate(labels)
    if y.min() == y.max():
        raise ValueError("the training entries need both paired and unpaired examples")
    regression = LogisticRegression(C=l1_lambda, l1_ratio=1.0, solver="liblinear", max_iter=max_iter)
    regression.fit(x, y)
    head = model.contact_head.regression
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(regression.coef_, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(regression.intercept_, dtype=head.bias.dtype))
    model.config.pair_min_separation = min_separation
    return ContactRegressionFit(
        num_sequences=len(sequences),
        num_entries=int(y.size),
        num_positives=int(y.sum()),
        num_nonzero_weights=int(np.count_nonzero(regression.coef_)),
        num_features=int(x.shape[1]),
    )
