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
  every sequence's length from its labels alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from ..modeling_ssrlm import IGNORE_INDEX
from ..secondary_structure import pairs_to_matrix
from ..tokenization_ssrlm import SSRLMTokenizer


__all__ = ["DataCollatorForPairPrediction", "IGNORE_INDEX"]


@dataclass
class DataCollatorForPairPrediction:
    """Tokenise and pad a batch of ``{"sequence": str, "pairs": [[i, j], ...]}`` features.

    Raises ``ValueError`` (from the tokenizer or :func:`~modeling_ssrlm.secondary_structure.pairs_to_matrix`)
    naming the bad sequence character or pair.
    """

    tokenizer: PreTrainedTokenizerBase = field(default_factory=SSRLMTokenizer)

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
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels}
