"""Data collator for SSR-LM masked-LM pre-training: SSM/SM/MLM masking, padding or packing.

:class:`DataCollatorForSSM` follows the Hugging Face data-collator protocol (a callable turning a
list of feature dicts into a dict of tensors), so it plugs into ``Trainer(data_collator=...)`` or a
:class:`torch.utils.data.DataLoader` (``collate_fn=...``). It implements the pre-training mixture
of METHOD.md §2: ncRNA with a structure gets structure-aware span masking (SSM) with probability
``ssm_probability`` and span masking (SM) otherwise; everything else gets SM. The positions come
from :mod:`modeling_ssrlm.data.masking`; every chosen token becomes ``[MASK]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ..modeling_ssrlm import IGNORE_INDEX

from .masking import crop_structure, span_mask, structure_span_mask, token_mask
from .packing import pack_rows

__all__ = ["DataCollatorForSSM", "IGNORE_INDEX", "MASK_STRATEGY_IDS", "MASKING_MODES"]

#: Values of the ``masking_strategy`` output: which strategy masked each position (0 = not masked).
MASK_STRATEGY_IDS: dict[str, int] = {"unmasked": 0, "sm": 1, "ssm": 2, "mlm": 3}
#: Accepted values of :attr:`DataCollatorForSSM.masking`.
MASKING_MODES = ("ssm", "sm", "mlm")

#: ``max_length`` (tokens, ``[CLS]`` and ``[EOS]`` included) when it is not given and there is no packing.
DEFAULT_MAX_LENGTH = 1024


@dataclass
class _MaskedSample:
    """One masked sequence, ``[CLS] … [EOS]``, before batching (int64 arrays of equal length)."""

    input_ids: np.ndarray
    labels: np.ndarray
    strategy: np.ndarray


@dataclass
class DataCollatorForSSM:
    """Mask a batch of nucleotide sequences for MLM pre-training and pad or pack it.

    Features (dicts) carry either ``input_ids`` (already tokenized, ``[CLS] … [EOS]``) or a raw
    ``sequence`` (tokenized here in one batched call), and optionally ``structure`` (dot-bracket
    over the nucleotides, same length; ``""`` or ``None`` for none) and ``is_ncrna`` (a sample
    with a structure counts as ncRNA unless ``is_ncrna`` is false). With ``Trainer`` and raw
    columns set ``remove_unused_columns=False``, or the columns are dropped before collation.

    Masking per sample (``masking``):

    * ``"ssm"``: ncRNA with a non-empty structure → SSM with probability ``ssm_probability``,
      else SM; every other sample → SM (the paper's mixture);
    * ``"sm"``: SM for every sample; ``"mlm"``: plain token masking for every sample.

    All strategies mask the same number of positions (see :func:`~modeling_ssrlm.data.masking.masking_budget`
    at ``mlm_probability``) and replace each with ``[MASK]``. Special tokens (``[CLS]``, ``[EOS]``,
    ``[PAD]``) and ``[UNK]`` (an N: there is no base to predict) are never masked. Sequences longer
    than ``max_length - 2`` nucleotides are first cropped to a uniformly random window of that
    size; the structure is cropped with the same window (pairs leaving it become unpaired).
    ``max_length`` defaults to ``pack_to_length`` when packing (a sample must fit in one row) and
    to :data:`DEFAULT_MAX_LENGTH` (1024) otherwise; an explicit ``max_length`` above ``pack_to_length``
    is an error.

    Output (all ``torch.long``):

    * ``input_ids``, ``labels`` (the original id at masked positions, -100 elsewhere) and
      ``masking_strategy`` (:data:`MASK_STRATEGY_IDS`: 0 unmasked, 1 SM, 2 SSM, 3 MLM), so training
      can log SSM- and SM-masked accuracy separately; pop it before the model forward.
    * Without packing: rows padded to the longest sample (rounded up to ``pad_to_multiple_of``)
      plus ``attention_mask`` (1 real, 0 padding).
    * With ``pack_to_length=L``: rows of exactly ``L`` tokens, filled best-fit decreasing by
      :func:`~modeling_ssrlm.data.packing.pack_rows` (the packer pre-training also uses): each
      sample goes, whole, to the row it fills most tightly (samples keep their relative order
      within a row). Plain next-fit (closing a row at the first sample that does not fit) wastes a
      third of the tokens when short ncRNA alternate with ~1 kb non-ncRNA, as in the 1:1 mixture. ``position_ids`` restart at 0 at each sample
      (the encoder attends only within each such segment). The unused tail of a row is filled with
      ``[PAD]`` as one more segment, with its own ``position_ids`` from 0 and labels -100. No
      ``attention_mask`` is returned: the segments already confine attention, and a pad segment
      that attends to itself avoids fully masked attention rows (NaN-prone softmax).

    The fraction of real tokens in a batch (packing efficiency) is
    ``(batch["input_ids"] != tokenizer.pad_token_id).float().mean()`` in either mode; the collator
    keeps no statistics of its own, because it runs in DataLoader worker processes.

    Randomness: the collator owns a :class:`numpy.random.Generator` seeded with ``seed``. Inside a
    DataLoader worker it instead uses a generator seeded with ``(get_worker_info().seed, seed)``:
    torch gives every worker a different seed each epoch, derived from the torch seed (which
    ``Trainer`` fixes through ``set_seed``), so workers never share a random stream, each epoch
    draws fresh masks, and a run is reproducible when both torch and ``seed`` are fixed.
    """

    tokenizer: PreTrainedTokenizerBase
    masking: str = "ssm"
    mlm_probability: float = 0.15
    span_length: int = 3
    ssm_probability: float = 0.5
    pack_to_length: int | None = None
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_length is None:
            self.max_length = DEFAULT_MAX_LENGTH if self.pack_to_length is None else self.pack_to_length
        self._check_arguments()
        for name in ("pad", "mask", "cls", "eos"):
            if getattr(self.tokenizer, f"{name}_token_id") is None:
                raise ValueError(f"the tokenizer has no {name} token; DataCollatorForSSM needs one")
        self._pad_id, self._mask_id = self.tokenizer.pad_token_id, self.tokenizer.mask_token_id
        self._cls_id, self._eos_id = self.tokenizer.cls_token_id, self.tokenizer.eos_token_id
        # Lookup table over the vocabulary: may a token with this id be masked?
        self._maskable = np.ones(len(self.tokenizer), dtype=bool)
        self._maskable[self.tokenizer.all_special_ids] = False
        self._rng = np.random.default_rng(self.seed)
        self._worker_seed: int | None = None
        self._worker_rng: np.random.Generator | None = None

    def _check_arguments(self) -> None:
        """Raise ``ValueError`` naming the first invalid constructor argument."""
        if self.masking not in MASKING_MODES:
            raise ValueError(f"unknown masking strategy {self.masking!r}; choose one of {MASKING_MODES}")
        if not 0.0 < self.mlm_probability <= 1.0:
            raise ValueError(f"mlm_probability must lie in (0, 1], got {self.mlm_probability}")
        if not 0.0 <= self.ssm_probability <= 1.0:
            raise ValueError(f"ssm_probability must lie in [0, 1], got {self.ssm_probability}")
        if self.span_length < 1:
            raise ValueError(f"span_length must be at least 1, got {self.span_length}")
        if self.max_length < 3:
            raise ValueError(f"max_length must be at least 3 ([CLS], one nucleotide, [EOS]), got {self.max_length}")
        if self.pack_to_length is not None:
            if self.max_length > self.pack_to_length:
                raise ValueError(
                    f"max_length ({self.max_length}) must not exceed pack_to_length ({self.pack_to_length}): "
                    "every sample must fit in one packed row; leave max_length unset to use pack_to_length"
                )
            if self.pad_to_multiple_of is not None:
                raise ValueError("pad_to_multiple_of applies only without packing; packed rows are pack_to_length long")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be a positive integer, got {self.pad_to_multiple_of}")

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Mask ``features`` and return the batch tensors described in the class docstring."""
        if len(features) == 0:
            raise ValueError("cannot collate an empty list of features")
        rng = self._generator()
        token_ids = self._token_ids(features)
        samples = [
            self._mask_sample(index, ids, feature, rng)
            for index, (ids, feature) in enumerate(zip(token_ids, features))
        ]
        if self.pack_to_length is None:
            return self._pad(samples)
        return self._pack(samples)

    def _generator(self) -> np.random.Generator:
        """The generator for this process: the collator's own, or one per DataLoader worker and epoch."""
        worker = torch.utils.data.get_worker_info()
        if worker is None:
            return self._rng
        if self._worker_rng is None or self._worker_seed != worker.seed:
            entropy = [worker.seed] if self.seed is None else [worker.seed, self.seed]
            self._worker_rng = np.random.default_rng(entropy)
            self._worker_seed = worker.seed
        return self._worker_rng

    def _token_ids(self, features: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        """Token ids of every feature: ``input_ids`` checked, raw ``sequence``s tokenized in one call."""
        ids: list[np.ndarray | None] = [None] * len(features)
        raw: list[int] = []
        for index, feature in enumerate(features):
            if feature.get("input_ids") is not None:
                ids[index] = self._checked_input_ids(index, feature["input_ids"])
            elif feature.get("sequence") is not None:
                raw.append(index)
            else:
                raise ValueError(f"sample {index} has neither 'input_ids' nor 'sequence'")
        if raw:
            encoded = self.tokenizer([features[index]["sequence"] for index in raw])["input_ids"]
            for index, token_ids in zip(raw, encoded):
                ids[index] = np.asarray(token_ids, dtype=np.int64)
        return ids

    def _checked_input_ids(self, index: int, input_ids: Any) -> np.ndarray:
        """``input_ids`` as a 1-D int64 array, after checking it is ``[CLS] … [EOS]``."""
        array = np.asarray(input_ids, dtype=np.int64)
        if array.ndim != 1 or len(array) < 2:
            raise ValueError(f"sample {index}: input_ids must be a 1-D list of at least [CLS] and [EOS]")
        if array[0] != self._cls_id or array[-1] != self._eos_id:
            raise ValueError(
                f"sample {index}: input_ids must start with [CLS] (id {self._cls_id}) and end with "
                f"[EOS] (id {self._eos_id}); tokenize with add_special_tokens=True"
            )
        if array.min() < 0 or array.max() >= len(self._maskable):
            raise ValueError(
                f"sample {index}: input_ids must lie in [0, {len(self._maskable)}), the tokenizer's vocabulary"
            )
        return array

    def _mask_sample(
        self, index: int, token_ids: np.ndarray, feature: Mapping[str, Any], rng: np.random.Generator
    ) -> _MaskedSample:
        """Crop, choose the strategy for, and mask one tokenized sample."""
        length = len(token_ids) - 2
        structure = feature.get("structure") or ""
        if structure and len(structure) != length:
            raise ValueError(
                f"sample {index}: the structure has {len(structure)} characters but the sequence has "
                f"{length} nucleotides"
            )
        is_ncrna = feature.get("is_ncrna")
        strategy = self._choose_strategy(bool(structure) and (is_ncrna is None or bool(is_ncrna)), rng)
        if len(token_ids) > self.max_length:
            length = self.max_length - 2
            start = int(rng.integers(0, len(token_ids) - self.max_length + 1))
            token_ids = np.concatenate(([self._cls_id], token_ids[1 + start : 1 + start + length], [self._eos_id]))
            if strategy == "ssm":
                structure = crop_structure(structure, start, start + length)
        masked = np.zeros(len(token_ids), dtype=bool)
        if strategy == "ssm":
            masked[1:-1] = structure_span_mask(structure, self.mlm_probability, self.span_length, rng)
        elif strategy == "sm":
            masked[1:-1] = span_mask(length, self.mlm_probability, self.span_length, rng)
        else:
            masked[1:-1] = token_mask(length, self.mlm_probability, rng)
        masked &= self._maskable[token_ids]
        return _MaskedSample(
            input_ids=np.where(masked, self._mask_id, token_ids),
            labels=np.where(masked, token_ids, IGNORE_INDEX),
            strategy=masked * MASK_STRATEGY_IDS[strategy],
        )

    def _choose_strategy(self, ssm_eligible: bool, rng: np.random.Generator) -> str:
        """``"ssm"``, ``"sm"`` or ``"mlm"`` for one sample (draws a number only for SSM-eligible ncRNA)."""
        if self.masking == "ssm" and ssm_eligible:
            return "ssm" if rng.random() < self.ssm_probability else "sm"
        return "sm" if self.masking == "ssm" else self.masking

    def _pad(self, samples: list[_MaskedSample]) -> dict[str, torch.Tensor]:
        """One sample per row, right-padded to the longest (rounded up to ``pad_to_multiple_of``)."""
        lengths = np.array([len(sample.input_ids) for sample in samples])
        width = int(lengths.max())
        if self.pad_to_multiple_of is not None:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        starts = np.arange(len(samples)) * width
        batch = self._place(samples, starts, lengths, shape=(len(samples), width))
        batch["attention_mask"] = torch.from_numpy((np.arange(width) < lengths[:, None]).astype(np.int64))
        return batch

    def _pack(self, samples: list[_MaskedSample]) -> dict[str, torch.Tensor]:
        """Pack into rows of exactly ``pack_to_length`` tokens (:func:`~modeling_ssrlm.data.packing.pack_rows`), with ``position_ids``."""
        row_length = self.pack_to_length
        lengths = np.array([len(sample.input_ids) for sample in samples])
        order, offsets = pack_rows(lengths, row_length)
        row_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        packed_lengths = lengths[order]
        before = np.cumsum(packed_lengths) - packed_lengths  # tokens packed before each sample, all rows
        starts = np.empty(len(samples), dtype=np.int64)  # flat index of each sample in the batch
        starts[order] = row_of * row_length + before - before[offsets[:-1]][row_of]
        free = row_length - np.add.reduceat(packed_lengths, offsets[:-1])  # free tokens at the end of each row
        shape = (len(free), row_length)
        batch = self._place(samples, starts, lengths, shape)
        # A segment starts at every sample and at every row's padded tail; positions count from there.
        tails = np.arange(1, len(free) + 1) * row_length - np.array(free)
        segment_start = np.zeros(shape[0] * row_length, dtype=bool)
        segment_start[starts] = True
        segment_start[tails[np.array(free) > 0]] = True
        flat_index = np.arange(segment_start.size)
        position_ids = flat_index - np.maximum.accumulate(np.where(segment_start, flat_index, 0))
        batch["position_ids"] = torch.from_numpy(position_ids.reshape(shape))
        return batch

    def _place(
        self, samples: list[_MaskedSample], starts: np.ndarray, lengths: np.ndarray, shape: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """Write sample ``i`` at flat index ``starts[i]`` of ``shape`` arrays prefilled with padding."""
        flat_index = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        batch = {}
        for key, attribute, fill in (
            ("input_ids", "input_ids", self._pad_id),
            ("labels", "labels", IGNORE_INDEX),
            ("masking_strategy", "strategy", MASK_STRATEGY_IDS["unmasked"]),
        ):
            values = np.full(shape[0] * shape[1], fill, dtype=np.int64)
            values[flat_index] = np.concatenate([getattr(sample, attribute) for sample in samples])
            batch[key] = torch.from_numpy(values.reshape(shape))
        return batch
