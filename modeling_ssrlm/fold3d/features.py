"""Per-chain inputs of the structure model beyond the sequence: 2D channels and floor frames.

:func:`compute_features` runs a :class:`~modeling_ssrlm.fold3d.secondary.SecondaryStructureSource`
on the whole sequence and builds the A-form floor on its decoded pairs
(:func:`~modeling_ssrlm.fold3d.geometry.floor_frames`). Training crops these full-chain features
(:meth:`ChainFeatures.crop`) exactly as the reference coordinates are cropped, so a crop sees what
inference on the whole chain would see. :class:`FeatureCache` keeps them on disk (one ``.npz`` per
sequence, source and floor settings), because the floor takes about a second per chain.
:func:`features_batch` pads a list into the keyword arguments of
:meth:`SSRLMForStructurePrediction.forward`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..tokenization_ssrlm import SSRLMTokenizer
from .geometry import floor_frames
from .secondary import SecondaryStructureSource, get_source, pairs_matrix

#: Bump when the floor rule changes, so cached features are recomputed.
FLOOR_VERSION = 1


@dataclass
class ChainFeatures:
    """2D channels and floor frames of one sequence (all float32 numpy arrays).

    Attributes:
        sequence: the sequence (model alphabet or RNA).
        probabilities: ``(L, L)`` base-pair probabilities.
        pairs: ``(L, L)`` 0/1 matrix of the decoded pairs.
        floor_rotations: ``(L, 3, 3)``; floor_translations: ``(L, 3)`` (C4' of the floor, Å).
    """

    sequence: str
    probabilities: np.ndarray
    pairs: np.ndarray
    floor_rotations: np.ndarray
    floor_translations: np.ndarray

    def __post_init__(self) -> None:
        length = len(self.sequence)
        shapes = {"probabilities": (length, length), "pairs": (length, length),
                  "floor_rotations": (length, 3, 3), "floor_translations": (length, 3)}
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape} for a sequence of length {length}, got {value.shape}")
            setattr(self, name, value)

    def crop(self, start: int, end: int) -> ChainFeatures:
        """Residues ``start:end`` (the features stay those of the whole chain)."""
        return ChainFeatures(self.sequence[start:end], self.probabilities[start:end, start:end],
                             self.pairs[start:end, start:end], self.floor_rotations[start:end],
                             self.floor_translations[start:end])

    def pair_list(self) -> list[tuple[int, int]]:
        """Decoded pairs as ``(i, j)``, ``i < j``."""
        i, j = np.nonzero(np.triu(self.pairs, 1))
        return list(zip(i.tolist(), j.tolist()))


def compute_features(sequence: str, source: SecondaryStructureSource | str = "viennarna",
                     floor_steps: int = 400, helix_extension: int = 0) -> ChainFeatures:
    """2D from ``source`` and the floor built on its pairs (helices extended by ``helix_extension``
    rounds, :func:`~modeling_ssrlm.fold3d.geometry.extend_helices`), for one whole sequence."""
    source = get_source(source)
    structure = source(sequence)
    if len(structure) != len(sequence):
        raise ValueError(f"source {source.name!r} returned {len(structure)} residues for a sequence of {len(sequence)}")
    frames = floor_frames(sequence, structure.pairs, floor_steps, helix_extension)
    return ChainFeatures(sequence, structure.probabilities, pairs_matrix(structure.pairs, len(sequence)),
                         frames.rots.numpy(), frames.trans.numpy())


class FeatureCache:
    """On-disk cache of :func:`compute_features`, keyed by sequence, source name and floor setting."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, sequence: str, source_name: str, floor_steps: int, helix_extension: int = 0) -> Path:
        key = f"{FLOOR_VERSION}|{source_name}|{floor_steps}|{sequence}"
        if helix_extension:  # keys of floors without extension are those written before it existed
            key += f"|extension={helix_extension}"
        return self.directory / f"{hashlib.sha1(key.encode()).hexdigest()}.npz"

    def get(self, sequence: str, source: SecondaryStructureSource | str = "viennarna",
            floor_steps: int = 400, helix_extension: int = 0) -> ChainFeatures:
        source = get_source(source)
        path = self.path(sequence, source.name, floor_steps, helix_extension)
        if path.is_file():
            with np.load(path) as data:
                return ChainFeatures(sequence, data["probabilities"], data["pairs"],
                                     data["floor_rotations"], data["floor_translations"])
        features = compute_features(sequence, source, floor_steps, helix_extension)
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".npz")
        os.close(handle)
        np.savez_compressed(temporary, probabilities=features.probabilities, pairs=features.pairs,
                            floor_rotations=features.floor_rotations, floor_translations=features.floor_translations)
        os.replace(temporary, path)
        return features


def compute_features_many(sequences: Iterable[str], source: SecondaryStructureSource | str = "viennarna",
                          floor_steps: int = 400, cache_dir: str | Path | None = None,
                          helix_extension: int = 0) -> list[ChainFeatures]:
    """:func:`compute_features` for each sequence, through a :class:`FeatureCache` when ``cache_dir`` is set."""
    source = get_source(source)
    if cache_dir is None:
        return [compute_features(sequence, source, floor_steps, helix_extension) for sequence in sequences]
    cache = FeatureCache(cache_dir)
    return [cache.get(sequence, source, floor_steps, helix_extension) for sequence in sequences]


def pad_features(items: Sequence[dict[str, torch.Tensor]], length: int) -> dict[str, torch.Tensor]:
    """Stack per-chain feature tensors (from :func:`feature_tensors`) padded to ``length`` residues.

    Padding is zero, except floor rotations, which are identity matrices.
    """
    batch = len(items)
    result = {
        "ss_probabilities": torch.zeros(batch, length, length),
        "ss_pairs": torch.zeros(batch, length, length),
        "floor_rotations": torch.eye(3).repeat(batch, length, 1, 1),
        "floor_translations": torch.zeros(batch, length, 3),
    }
    for row, item in enumerate(items):
        n = len(item["floor_translations"])
        result["ss_probabilities"][row, :n, :n] = item["ss_probabilities"]
        result["ss_pairs"][row, :n, :n] = item["ss_pairs"]
        result["floor_rotations"][row, :n] = item["floor_rotations"]
        result["floor_translations"][row, :n] = item["floor_translations"]
    return result


def feature_tensors(features: ChainFeatures) -> dict[str, torch.Tensor]:
    """The model's keyword tensors of one chain (no batch dimension)."""
    return {
        "ss_probabilities": torch.from_numpy(features.probabilities),
        "ss_pairs": torch.from_numpy(features.pairs),
        "floor_rotations": torch.from_numpy(features.floor_rotations),
        "floor_translations": torch.from_numpy(features.floor_translations),
    }


def features_batch(features: Sequence[ChainFeatures], tokenizer: SSRLMTokenizer | None = None) -> dict[str, torch.Tensor]:
    """A padded batch for :meth:`SSRLMForStructurePrediction.forward`: ``input_ids``, ``attention_mask``,
    the 2D channels and the floor frames."""
    tokenizer = tokenizer or SSRLMTokenizer()
    encoded = tokenizer([f.sequence for f in features], padding=True, return_tensors="pt")
    length = encoded["input_ids"].shape[1] - 2
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
            **pad_features([feature_tensors(f) for f in features], length)}
