"""SSR-LM with a supervised base-pair head: embeddings → pair features → 2D ResNet → ``L × L`` logits.

Architecture (METHOD.md §4, paper §3.3.2), all sizes from the ``pair_`` fields of
:class:`~modeling_ssrlm.configuration_ssrlm.SSRLMConfig`:

1. The encoder (``self.model``, the same attribute and weight prefix as in
   :class:`~modeling_ssrlm.modeling_ssrlm.SSRLMForMaskedLM`, so a pre-trained MLM folder loads into
   this class with ``from_pretrained``) embeds ``[CLS] x_1 … x_L [EOS]``; the ``[CLS]``/``[EOS]``
   vectors and the padding are dropped, leaving one vector ``h_i`` per nucleotide.
2. Pair features: ``e_i = W_p h_i`` (``pair_hidden_channels`` wide), then a 1 × 1 convolution over
   the outer concatenation and the elementwise product, ``z_ij = W [e_i; e_j; e_i ⊙ e_j] + b``. It is
   evaluated factorised (``W_l e_i + W_r e_j + Σ_k W_p[:, k] e_ik e_jk + b``), which never builds the
   ``3C × L × L`` concatenation: the pair stage holds ``C × L²`` floats at a time.
   Optional extra inputs (``pair_prior_channels``: thermodynamic priors from
   :mod:`~modeling_ssrlm.thermodynamics`, and ``pair_sequence_features``: the one-hot identity of
   each base pair) are projected by a 1 × 1 convolution to ``C`` channels and added to ``z``.
   A config without them builds exactly the model without them (same weights, same outputs).
3. A pre-activation 2D ResNet: ``pair_num_blocks`` blocks of (norm → ReLU → ``k × k`` conv) × 2 plus
   the identity; block ``b`` uses dilation ``pair_dilations[b % len(pair_dilations)]``.
   Normalisation is a per-sequence *instance* norm over the unpadded ``L × L`` region
   (``pair_norm="instance"``), or none. Batch norm is deliberately not offered: with the paper's
   batch size of 2 its statistics are noise, and they would make a sequence's prediction depend on
   the other sequences (and the padding) in its batch.
4. Norm → ReLU → 1 × 1 conv to one channel, symmetrised: ``logits = (z + zᵀ) / 2``.

Padding: padded rows/columns are zeroed before every convolution and excluded from the norm
statistics, so a sequence's logits do not depend on how much padding its batch adds (tested).
Positions are rotary (relative) in the encoder and convolutional in the head, so there is no
maximum length other than memory (``C × L²`` floats per activation, 128 MB at L = 1,000, C = 32).

Loss: binary cross-entropy with logits (``pos_weight = pair_pos_weight``) over the upper-triangle
entries ``j − i ≥ pair_min_separation`` of real nucleotides whose label is not -100, averaged over
those entries of the whole batch. ``pair_min_separation = 0`` keeps the main diagonal in the loss as
negatives: left out, the network learns ~1 on ``(i, i)``, and an exact repeat at offset ``k``
reproduces that neighbourhood on ``(i, i + k)`` (``benchmarks/repeat_artefact.py``).

Decisions (threshold, post-processing, decoder) are config fields, not weights;
:meth:`PairPredictionMixin.predict` applies them through :func:`modeling_ssrlm.postprocess.postprocess`
(``pair_decoder="threshold"``) or :func:`modeling_ssrlm.thermodynamics.decode_with_vienna`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init
from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from .configuration_ssrlm import SSRLMConfig
from .modeling_ssrlm import IGNORE_INDEX, SSRLMModel, SSRLMPreTrainedModel
from .postprocess import postprocess as postprocess_pairs
from .secondary_structure import Pair, matrix_to_pairs, to_dot_bracket
from .thermodynamics import compute_prior_channels_many, decode_with_vienna, vienna_nested_pairs
from .tokenization_ssrlm import NUCLEOTIDES, VOCAB, SSRLMTokenizer, normalize_sequence

__all__ = [
    "AutoModelForPairPrediction",
    "PairPrediction",
    "PairPredictionMixin",
    "PairPredictionOutput",
    "SSRLMForPairPrediction",
    "logits_to_probabilities",
    "normalize_batch",
    "pad_pair_priors",
    "pair_identity_features",
    "residue_mask",
    "strip_special_tokens",
]

#: Channels of :func:`pair_identity_features`: one per ordered pair of nucleotides.
PAIR_IDENTITY_CHANNELS = len(NUCLEOTIDES) ** 2

#: Folding work (sum of cubed lengths) from which a batch's prior channels are computed in worker
#: processes when ``prior_workers > 1``: about 0.1 CPU-s of partition function per parameter set,
#: well above the cost of starting a pool (``benchmarks/eval_ss.py`` timing).
PARALLEL_PRIORS_MIN_WORK = 300**3


@dataclass
class PairPredictionOutput(ModelOutput):
    """Output of the pair models.

    Args:
        loss: BCE over the entries of ``pair_mask`` whose label is not -100 (when ``labels`` are given).
        logits: ``(batch, L_max, L_max)`` symmetric pair logits over nucleotides (special tokens
            stripped); padded rows/columns hold the dtype's minimum (probability 0).
        pair_mask: ``(batch, L_max, L_max)`` bool, True on the scored entries: both positions real
            nucleotides and ``j − i ≥ pair_min_separation`` (upper triangle only).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pair_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class PairPrediction:
    """Prediction for one sequence: ``probabilities`` (``L × L``, symmetric) and decoded ``pairs``.

    ``sequence`` is the input after :func:`~modeling_ssrlm.tokenization_ssrlm.normalize_sequence`
    (upper case, ``T`` for ``U``, ``N`` for IUPAC codes); pair indices refer to it.
    """

    sequence: str
    probabilities: np.ndarray
    pairs: list[Pair] = field(default_factory=list)

    @property
    def dot_bracket(self) -> str:
        """The pairs as dot-bracket (pseudoknots as ``[]{}<>``); raises if a base has two partners."""
        return to_dot_bracket(self.pairs, len(self.sequence))


# --------------------------------------------------------------------------- special tokens and masks


def pad_pair_priors(priors: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack ``(K, L_b, L_b)`` prior channels into a ``(batch, K, L_max, L_max)`` float32 tensor, zero-padded."""
    max_length = max(prior.shape[-1] for prior in priors)
    padded = torch.zeros(len(priors), priors[0].shape[0], max_length, max_length)
    for row, prior in enumerate(priors):
        length = prior.shape[-1]
        padded[row, :, :length, :length] = torch.from_numpy(np.asarray(prior, dtype=np.float32))
    return padded




def residue_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, config: SSRLMConfig) -> torch.Tensor:
    """Return the ``(batch, L_max)`` bool mask of real nucleotides of right-padded ``[CLS] x [EOS]`` rows.

    ``L_max`` is the longest sequence of the batch (token length − 2). Raises ``ValueError`` when a
    row does not start with ``[CLS]`` or its last real token is not ``[EOS]`` (e.g. left padding,
    truncation without the end token, or packed rows, which the pair models do not accept).
    """
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must be (batch, tokens), got shape {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    token_lengths = attention_mask.sum(dim=1).long()
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    if (token_lengths < 2).any() or (input_ids[:, 0] != config.bos_token_id).any():
        raise ValueError("every row must start with [CLS] and hold at least [CLS] and [EOS]")
    if (input_ids[rows, token_lengths - 1] != config.eos_token_id).any():
        raise ValueError(
            "every row must end with [EOS] before right padding (one sequence per row, "
            "as SSRLMTokenizer(..., padding=True) makes them)"
        )
    lengths = token_lengths - 2
    positions = torch.arange(int(lengths.max()), device=input_ids.device)
    return positions[None, :] < lengths[:, None]


def strip_special_tokens(per_token: torch.Tensor, residues: torch.Tensor) -> torch.Tensor:
    """Cut ``[CLS]``, ``[EOS]`` and padding off a ``(batch, tokens, ...)`` tensor → ``(batch, L_max, ...)``."""
    return per_token[:, 1 : 1 + residues.shape[1]]


def scored_pair_mask(residues: torch.Tensor, min_separation: int) -> torch.Tensor:
    """``(batch, L, L)`` bool: both positions real and ``j − i ≥ min_separation`` (upper triangle)."""
    length = residues.shape[1]
    band = torch.ones(length, length, dtype=torch.bool, device=residues.device).triu(diagonal=min_separation)
    return residues[:, :, None] & residues[:, None, :] & band


def pair_identity_features(input_ids: torch.Tensor, residues: torch.Tensor) -> torch.Tensor:
    """``(batch, 16, L_max, L_max)`` one-hot identity of each base pair from ``[CLS] x [EOS]`` token ids.

    Channel ``4·a + b`` is 1 at ``[i, j]`` when ``x_i`` is nucleotide ``a`` and ``x_j`` nucleotide ``b``
    (order ``A C G T``, consecutive token ids in the vocabulary); ``N`` and padding give all zeros.
    """
    bases = strip_special_tokens(input_ids, residues) - VOCAB[NUCLEOTIDES[0]]
    known = (bases >= 0) & (bases < len(NUCLEOTIDES)) & residues
    one_hot = F.one_hot(bases.clamp(0, len(NUCLEOTIDES) - 1), len(NUCLEOTIDES)).float() * known[..., None]
    features = torch.einsum("bia,bjc->bacij", one_hot, one_hot)
    return features.reshape(features.shape[0], PAIR_IDENTITY_CHANNELS, *features.shape[-2:])


def pair_bce_loss(
    logits: torch.Tensor, labels: torch.Tensor, pair_mask: torch.Tensor, pos_weight: float
) -> torch.Tensor:
    """Mean weighted BCE over ``pair_mask`` entries whose label is not :data:`IGNORE_INDEX`."""
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels must have shape {tuple(logits.shape)} (batch, L_max, L_max over nucleotides, "
            f"special tokens excluded), got {tuple(labels.shape)}"
        )
    scored = pair_mask & (labels != IGNORE_INDEX)
    if not scored.any():
        return logits.sum() * 0.0
    weight = torch.tensor(pos_weight, dtype=torch.float32, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits[scored].float(), labels[scored].float(), pos_weight=weight)


# --------------------------------------------------------------------------- pair head


class SSRLMMaskedInstanceNorm2d(nn.Module):
    """Instance norm over the unpadded region of each ``(C, L, L)`` map, with a per-channel affine.

    Without padding (``mask=None``) it is exactly :func:`torch.nn.functional.instance_norm`.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x``: ``(B, C, L, L)`` with zeros in the padding; ``mask``: ``(B, 1, L, L)`` float or ``None``."""
        if mask is None and x.shape[-1] > 1:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        if mask is None:  # a 1-nt sequence: F.instance_norm refuses a single element; its mean is itself
            mask = torch.ones_like(x[:, :1])
        count = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = (x * mask).sum(dim=(2, 3), keepdim=True) / count
        variance = (((x - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / count
        scale = self.weight[None, :, None, None] * torch.rsqrt(variance + self.eps)
        return torch.addcmul(self.bias[None, :, None, None] - mean * scale, x, scale)


class SSRLMPairResidualBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(act(norm(conv(act(norm(x))))))``, padding kept at zero."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, norm: str):
        super().__init__()
        padding = dilation * (kernel_size // 2)
        self.norms = nn.ModuleList(
            SSRLMMaskedInstanceNorm2d(channels) if norm == "instance" else nn.Identity() for _ in range(2)
        )
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, kernel_size, padding=padding, dilation=dilation) for _ in range(2)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        hidden = x
        for norm, conv in zip(self.norms, self.convs):
            hidden = conv(_masked_activation(_apply_norm(norm, hidden, mask), mask))
        return _apply_mask(x + hidden, mask)


def _apply_norm(norm: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Call a masked norm with its mask, or an ``nn.Identity``."""
    return norm(x, mask) if isinstance(norm, SSRLMMaskedInstanceNorm2d) else x


def _apply_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded rows/columns (``mask=None``: nothing is padded)."""
    return x if mask is None else x * mask


def _masked_activation(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """ReLU, then zero the padding so the next convolution sees the same zeros as unpadded input."""
    return _apply_mask(F.relu(x), mask)


class SSRLMPairHead(nn.Module):
    """Nucleotide embeddings ``(B, L, D)`` → symmetric pair logits ``(B, L, L)`` (see the module docstring)."""

    def __init__(self, config: SSRLMConfig):
        super().__init__()
        channels = config.pair_hidden_channels
        self.embedding_proj = nn.Linear(config.hidden_size, channels)
        # One 1 × 1 convolution over [e_i; e_j; e_i ⊙ e_j], stored as a Linear(3C → C).
        self.pair_proj = nn.Linear(3 * channels, channels)
        self.blocks = nn.ModuleList(
            SSRLMPairResidualBlock(
                channels,
                config.pair_kernel_size,
                config.pair_dilations[index % len(config.pair_dilations)],
                config.pair_norm,
            )
            for index in range(config.pair_num_blocks)
        )
        self.final_norm = SSRLMMaskedInstanceNorm2d(channels) if config.pair_norm == "instance" else nn.Identity()
        self.output = nn.Conv2d(channels, 1, kernel_size=1)
        self.output_activation = config.pair_output_activation
        extra_channels = len(config.pair_prior_channels) + PAIR_IDENTITY_CHANNELS * config.pair_sequence_features
        # Only built when used, so configs without extra inputs keep their state dict and outputs.
        self.prior_proj = nn.Conv2d(extra_channels, channels, kernel_size=1) if extra_channels else None

    def pair_features(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` → ``(B, C, L, L)``: ``pair_proj`` applied to ``[e_i; e_j; e_i ⊙ e_j]``, factorised."""
        projected = self.embedding_proj(embeddings)
        left, right, product = self.pair_proj.weight.split(projected.shape[-1], dim=1)
        rows = (projected @ left.T).transpose(1, 2)[:, :, :, None]
        cols = (projected @ right.T).transpose(1, 2)[:, :, None, :]
        bilinear = torch.einsum("bik,ck,bjk->bcij", projected, product, projected)
        return bilinear + rows + cols + self.pair_proj.bias[None, :, None, None]

    def forward(
        self, embeddings: torch.Tensor, residues: torch.Tensor, pair_inputs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return logits ``(B, L, L)``; padded rows/columns hold the dtype's minimum.

        ``pair_inputs``: ``(B, K, L, L)`` extra channels (priors, then sequence features), required
        exactly when the config names some.
        """
        valid = residues[:, :, None] & residues[:, None, :]
        # Without padding in the batch (always true for one sequence) every masking step is skipped.
        mask = None if bool(residues.all()) else valid[:, None].to(embeddings.dtype)
        hidden = self.pair_features(embeddings)
        if self.prior_proj is not None:
            hidden = hidden + self.prior_proj(pair_inputs.to(hidden.dtype))
        hidden = _apply_mask(hidden, mask)
        for block in self.blocks:
            hidden = block(hidden, mask)
        hidden = _apply_norm(self.final_norm, hidden, mask)
        hidden = _masked_activation(hidden, mask) if self.output_activation == "relu" else _apply_mask(hidden, mask)
        logits = self.output(hidden).squeeze(1)
        logits = (logits + logits.transpose(1, 2)) / 2
        return logits.masked_fill(~valid, torch.finfo(logits.dtype).min)


# --------------------------------------------------------------------------- prediction API


class PairPredictionMixin:
    """``predict`` / ``decode_pairs`` for models whose forward returns :class:`PairPredictionOutput`.

    The decision settings come from the config: ``pair_threshold``, ``pair_postprocess``,
    ``pair_decoder`` (and its ``pair_decoder_*`` settings), ``pair_canonical_only``,
    ``pair_min_loop_length``, ``pair_matching`` and ``pair_min_separation`` (probabilities of
    entries with ``|i − j|`` below it, and of the main diagonal, are 0). Models whose config names ``pair_prior_channels``
    get them computed with ViennaRNA here (:func:`~modeling_ssrlm.thermodynamics.compute_prior_channels`).
    """

    def decode_pairs(
        self,
        probabilities: np.ndarray,
        sequence: str,
        threshold: float | None = None,
        postprocess: bool | None = None,
        nested: Sequence[Pair] | None = None,
    ) -> list[Pair]:
        """Decode an ``L × L`` probability matrix into pairs with the config's decoder.

        Without post-processing (``postprocess=False``, or ``pair_postprocess`` off) every entry above
        the threshold is a pair, whatever the decoder. Otherwise ``pair_decoder="threshold"`` applies
        the threshold and the post-processing rules (:func:`~modeling_ssrlm.postprocess.postprocess`),
        and ``"vienna_mfe"`` / ``"vienna_mea"`` decode with ViennaRNA soft constraints, the threshold
        then selecting the pairs added to the nested structure, and ``pair_noncanonical_threshold``
        (when set) the non-canonical pairs added after them (anywhere, or stacked on a decoded pair:
        ``pair_noncanonical_placement``)
        (:func:`~modeling_ssrlm.thermodynamics.decode_with_vienna`). ``nested``: the result of
        :meth:`nested_pairs` for these probabilities, when already known (it does not depend on the
        threshold).
        """
        config = self.config
        threshold = config.pair_threshold if threshold is None else threshold
        if not (config.pair_postprocess if postprocess is None else postprocess):
            return matrix_to_pairs(probabilities, threshold)
        if config.pair_decoder != "threshold":
            return decode_with_vienna(
                probabilities,
                sequence,
                method=config.pair_decoder.removeprefix("vienna_"),
                threshold=threshold,
                canonical_only=config.pair_canonical_only,
                min_loop_length=config.pair_min_loop_length,
                transform=config.pair_decoder_transform,
                scale=config.pair_decoder_scale,
                gamma=config.pair_decoder_mea_gamma,
                crossing_only=config.pair_decoder_extra_pairs == "crossing",
                nested=nested,
                noncanonical_threshold=config.pair_noncanonical_threshold,
                noncanonical_placement=config.pair_noncanonical_placement,
            )
        return postprocess_pairs(
            probabilities,
            sequence,
            threshold=threshold,
            canonical_only=config.pair_canonical_only,
            min_loop_length=config.pair_min_loop_length,
            matching=config.pair_matching,
        )

    def nested_pairs(self, probabilities: np.ndarray, sequence: str) -> list[Pair] | None:
        """The threshold-independent nested part of a ViennaRNA decoder (``None`` for ``"threshold"``)."""
        config = self.config
        if config.pair_decoder == "threshold" or not config.pair_postprocess:
            return None
        return vienna_nested_pairs(
            probabilities,
            sequence,
            method=config.pair_decoder.removeprefix("vienna_"),
            min_loop_length=config.pair_min_loop_length,
            transform=config.pair_decoder_transform,
            scale=config.pair_decoder_scale,
            gamma=config.pair_decoder_mea_gamma,
        )

    def pair_probabilities(
        self,
        sequences: Sequence[str],
        batch_tokens: int = 4096,
        device: str | torch.device | None = None,
        prior_cache_dir: str | os.PathLike | None = None,
        prior_workers: int = 1,
    ) -> list[np.ndarray]:
        """Return one symmetric ``L × L`` float32 probability matrix per sequence, in input order.

        Sequences are validated and normalised, sorted by length and run in batches of at most
        ``batch_tokens`` padded tokens (``batch × (L_max + 2)``; a longer sequence runs alone).
        ``device`` moves the model there first. A model with prior channels computes them with
        ViennaRNA, reading and filling ``prior_cache_dir`` when given (a benchmark running several
        models on one set folds each sequence once), in up to ``prior_workers`` processes (one job
        per sequence and energy parameter set) when a batch holds enough folding work to repay
        starting them (:data:`PARALLEL_PRIORS_MIN_WORK`). Raises ``ValueError`` for a bare string, an
        empty sequence or a bad character (naming the sequence index and position).
        """
        return self._probabilities(normalize_batch(sequences), batch_tokens, device, prior_cache_dir, prior_workers)

    @torch.inference_mode()
    def _probabilities(
        self,
        normalized: list[str],
        batch_tokens: int,
        device: str | torch.device | None,
        prior_cache_dir: str | os.PathLike | None = None,
        prior_workers: int = 1,
    ) -> list[np.ndarray]:
        """:meth:`pair_probabilities` for already normalised sequences."""
        if batch_tokens < 1:
            raise ValueError(f"batch_tokens must be positive, got {batch_tokens}")
        if prior_workers < 1:
            raise ValueError(f"prior_workers must be at least 1, got {prior_workers}")
        if device is not None:
            self.to(device)
        self.eval()
        tokenizer = SSRLMTokenizer()
        results: list[np.ndarray | None] = [None] * len(normalized)
        channels = self.config.pair_prior_channels
        for batch in _length_batches([len(s) for s in normalized], batch_tokens):
            sequences = [normalized[i] for i in batch]
            encoded = tokenizer(sequences, padding=True, return_tensors="pt").to(self.device)
            inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
            if channels:
                workers = prior_workers if sum(len(s) ** 3 for s in sequences) >= PARALLEL_PRIORS_MIN_WORK else 1
                priors = compute_prior_channels_many(sequences, channels, workers, cache_dir=prior_cache_dir)
                inputs["pair_priors"] = pad_pair_priors(list(priors)).to(self.device)
            logits = self(**inputs).logits
            logits = logits.float().cpu().numpy()
            for row, index in enumerate(batch):
                length = len(normalized[index])
                results[index] = logits_to_probabilities(logits[row, :length, :length], self.config.pair_min_separation)
        return results

    def predict(
        self,
        sequences: Sequence[str],
        batch_tokens: int = 4096,
        device: str | torch.device | None = None,
        threshold: float | None = None,
        postprocess: bool | None = None,
        prior_workers: int = 1,
    ) -> list[PairPrediction]:
        """Predict the secondary structure of each sequence (see :meth:`pair_probabilities`).

        ``threshold`` and ``postprocess`` override ``config.pair_threshold`` / ``config.pair_postprocess``
        for this call.
        """
        normalized = normalize_batch(sequences)
        probabilities = self._probabilities(normalized, batch_tokens, device, prior_workers=prior_workers)
        return [
            PairPrediction(sequence, matrix, self.decode_pairs(matrix, sequence, threshold, postprocess))
            for sequence, matrix in zip(normalized, probabilities)
        ]


def logits_to_probabilities(logits: np.ndarray, min_separation: int) -> np.ndarray:
    """Sigmoid of one sequence's ``L × L`` logits, with entries ``|i − j| < max(min_separation, 1)`` set to 0.

    The main diagonal is 0 even when it was trained on (``min_separation = 0``): a base never pairs
    with itself.
    """
    probabilities = torch.sigmoid(torch.as_tensor(np.asarray(logits, dtype=np.float32))).numpy()
    length = probabilities.shape[0]
    separation = np.abs(np.subtract.outer(np.arange(length), np.arange(length)))
    probabilities[separation < max(min_separation, 1)] = 0.0
    return probabilities


def normalize_batch(sequences: Sequence[str]) -> list[str]:
    """Normalise each sequence; ``ValueError`` naming the sequence for empty or invalid input."""
    if isinstance(sequences, str):
        raise ValueError("pass a list of sequences, not a single string")
    normalized = []
    for index, sequence in enumerate(sequences):
        try:
            sequence = normalize_sequence(sequence)
        except (TypeError, ValueError) as error:
            raise ValueError(f"sequence {index}: {error}") from None
        if not sequence:
            raise ValueError(f"sequence {index} is empty")
        normalized.append(sequence)
    return normalized


def _length_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Group indices, sorted by length, into batches of at most ``batch_tokens`` padded tokens."""
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        batch = batches[-1] if batches else None
        if batch and (len(batch) + 1) * (lengths[index] + 2) <= batch_tokens:
            batch.append(index)
        else:
            batches.append([index])
    return batches


# --------------------------------------------------------------------------- model


class SSRLMForPairPrediction(PairPredictionMixin, SSRLMPreTrainedModel):
    """SSR-LM encoder + ResNet pair head for supervised secondary-structure prediction.

    Example::

        >>> model = SSRLMForPairPrediction.from_pretrained("runs/ssrlm-8m-mlm")  # encoder from an MLM folder
        >>> [prediction] = model.predict(["GGGAAACCC"])
        >>> prediction.probabilities.shape, prediction.pairs
    """

    # The loss is a mean over the batch's scored entries: the Trainer must not pass num_items_in_batch.
    accepts_loss_kwargs = False

    def __init__(self, config: SSRLMConfig):
        super().__init__(config)
        self.model = SSRLMModel(config)
        self.pair_head = SSRLMPairHead(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Default initialisation, plus the masked instance norms (identity affine)."""
        super()._init_weights(module)
        if isinstance(module, SSRLMMaskedInstanceNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        pair_priors: torch.Tensor | None = None,
        **kwargs,
    ) -> PairPredictionOutput:
        r"""
        Args:
            input_ids: ``(batch, tokens)``, one right-padded ``[CLS] x [EOS]`` sequence per row.
            attention_mask: ``(batch, tokens)``, 1 for real tokens and 0 for padding.
            labels: ``(batch, L_max, L_max)`` contact maps over nucleotides (1 paired, 0 not,
                -100 ignored), as :class:`~modeling_ssrlm.data.pair_collator.DataCollatorForPairPrediction`
                builds them.
            pair_priors: ``(batch, K, L_max, L_max)`` zero-padded prior channels, in the order of
                ``config.pair_prior_channels`` (the collator builds them with ``prior_channels=``);
                required exactly when the config names ``K > 0`` channels.
        """
        residues = residue_mask(input_ids, attention_mask, self.config)
        pair_inputs = self._pair_inputs(input_ids, residues, pair_priors)
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        embeddings = strip_special_tokens(outputs.last_hidden_state, residues)
        logits = self.pair_head(embeddings, residues, pair_inputs)
        pair_mask = scored_pair_mask(residues, self.config.pair_min_separation)
        loss = None
        if labels is not None:
            loss = pair_bce_loss(logits, labels.to(logits.device), pair_mask, self.config.pair_pos_weight)
        return PairPredictionOutput(
            loss=loss,
            logits=logits,
            pair_mask=pair_mask,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


    def _pair_inputs(
        self, input_ids: torch.Tensor, residues: torch.Tensor, pair_priors: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Check ``pair_priors`` against the config and stack the head's extra input channels."""
        channels = list(self.config.pair_prior_channels)
        if channels and pair_priors is None:
            raise ValueError(
                f"this model reads the prior channels {channels}: pass pair_priors of shape (batch, "
                f"{len(channels)}, L_max, L_max), e.g. from DataCollatorForPairPrediction(prior_channels=...); "
                "predict() and pair_probabilities() compute them"
            )
        if not channels and pair_priors is not None:
            raise ValueError("pair_priors were given, but config.pair_prior_channels is empty")
        inputs = []
        if channels:
            expected = (residues.shape[0], len(channels), residues.shape[1], residues.shape[1])
            if tuple(pair_priors.shape) != expected:
                raise ValueError(f"pair_priors must have shape {expected}, got {tuple(pair_priors.shape)}")
            inputs.append(pair_priors.to(residues.device))
        if self.config.pair_sequence_features:
            inputs.append(pair_identity_features(input_ids, residues))
        return torch.cat(inputs, dim=1) if inputs else None


class AutoModelForPairPrediction(_BaseAutoModelClass):
    """Auto class for base-pair (contact-map) prediction models.

    transformers has no Auto class whose output is an ``L × L`` map (token classification is per
    token), so this package defines one; ``modeling_ssrlm/__init__.py`` registers
    ``SSRLMConfig → SSRLMForPairPrediction`` in it. Its mapping starts empty.
    """

    _model_mapping = _LazyAutoMapping(OrderedDict(), OrderedDict())
