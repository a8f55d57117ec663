"""Batching for secondary-structure fine-tuning: sequences + pair lists → padded tensors.

:class:`DataCollatorForPairPrediction` follows the Hugging Face data-collator protocol (a callable
turning a list of feature dicts into a dict of tensors), so it plugs into
``Trainer(data_collator=...)``. Each feature needs a ``sequence`` (str) and ``pairs`` (0-based
``(i, j)``); other keys (``id``, ``family``, ``length`` of the ss-dataset parquet files) are ignored.

Output:

* ``input_ids`` / ``attention_mask`` — ``[CLS] x_1 … x_L [EOS]`` right-padded by
  :class:`~modeling_ssrlm.tokenization_ssrlm.SSRLMTokenizer`;
* ``labels`` — ``(batch, L_max, L_max)`` float contact maps over the nucleotides only (no special
  tokens): 1.0 at ``[i, j]`` and ``[j, i]`` for every pair, 0.0 elsewhere and
  :data:`IGNORE_INDEX` (-100) in the padded rows and columns, so the model and the metrics can tell
  every sequence's length from its labels alone;
* ``pair_priors`` — only with ``prior_channels``: ``(batch, K, L_max, L_max)`` float32 thermodynamic
  prior channels (:mod:`~modeling_ssrlm.thermodynamics`), zero-padded. ViennaRNA runs in the
  collator's process; with ``prior_cache_dir`` each channel is computed once and then read from disk
  (fill the cache for a training set beforehand with
  :func:`~modeling_ssrlm.thermodynamics.compute_prior_channels_many` and several workers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ..modeling_ssrlm import IGNORE_INDEX
from ..modeling_ssrlm_pair import pad_pair_priors
from ..secondary_structure import pairs_to_matrix
from ..thermodynamics import compute_prior_channels_many, validate_channels
from ..tokenization_ssrlm import SSRLMTokenizer, normalize_sequence


__all__ = ["DataCollatorForPairPrediction", "IGNORE_INDEX"]


@dataclass
class DataCollatorForPairPrediction:
    """Tokenise and pad a batch of ``{"sequence": str, "pairs": [[i, j], ...]}`` features.

    ``prior_channels`` (the model's ``config.pair_prior_channels``) adds ``pair_priors``, read from
    and written to ``prior_cache_dir`` when given. Raises ``ValueError`` (from the tokenizer,
    :func:`~modeling_ssrlm.secondary_structure.pairs_to_matrix` or the channel check) naming the bad sequence
    character, pair or channel.
    """

    tokenizer: PreTrainedTokenizerBase = field(default_factory=SSRLMTokenizer)
    prior_channels: Sequence[str] = ()
    prior_cache_dir: str | os.PathLike | None = None

    def __post_init__(self):
        self.prior_channels = validate_channels(self.prior_channels)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        sequences = [feature["sequence"] for feature in features]
        batch = self.tokenizer(sequences, padding=True, return_tensors="pt")
        lengths = [int(n) - 2 for n in batch["attention_mask"].sum(dim=1)]
        max_length = max(lengths)
        labels = torch.full((len(features), max_length, max_length), float(IGNORE_INDEX))
        for row, (feature, length) in enumerate(zip(features, lengths)):
            labels[row, :length, :length] = torch.from_numpy(pairs_to_matrix(feature["pairs"], length))
        output = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels}
        if self.prior_channels:
            normalized = [normalize_sequence(sequence) for sequence in sequences]
            priors = compute_prior_channels_many(normalized, self.prior_channels, cache_dir=self.prior_cache_dir)
            output["pair_priors"] = pad_pair_priors(list(priors))
        return output
