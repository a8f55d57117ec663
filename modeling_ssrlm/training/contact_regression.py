"""Fit the attention-contact regression of :class:`~modeling_ssrlm.modeling_ssrlm_contact.SSRLMForContactRegression`.

Training-time only (scikit-learn is not needed to load or run a fitted model); the penalty and the
choice ``C = λ`` are explained in :mod:`modeling_ssrlm.modeling_ssrlm_contact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..modeling_ssrlm_contact import DEFAULT_L1_LAMBDA, DEFAULT_MIN_SEPARATION, SSRLMForContactRegression
from ..secondary_structure import Pair, pairs_to_matrix
from ..tokenization_ssrlm import SSRLMTokenizer, normalize_sequence

__all__ = ["ContactRegressionFit", "fit_contact_regression"]


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
    (:func:`~modeling_ssrlm.training.thresholds.choose_threshold`).
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
