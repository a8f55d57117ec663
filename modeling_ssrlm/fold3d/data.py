"""Datasets of RNA chains for the structure model: on-disk format, tensors and collation.

On disk, one split is one ``.npz`` file (written by ``data_scripts/build_3d_dataset.py``) holding
the chains concatenated along the residue axis: ``names``, ``sequences``, ``lengths``,
``resolutions`` (NaN when unknown), ``coords`` ``(sum L, n_atoms, 3)`` and ``atom_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from ..tokenization_ssrlm import SSRLMTokenizer
from .features import ChainFeatures, feature_tensors, pad_features
from .residue_constants import ATOM_NAMES

if TYPE_CHECKING:  # biotite is needed to read structures, not to train on saved chains
    from .pdb_io import RNAChain


def save_chains(path: str | Path, chains: Sequence[RNAChain]) -> None:
    """Write chains to one ``.npz`` file (see module docstring)."""
    n_atoms = len(ATOM_NAMES)
    np.savez_compressed(
        path,
        names=np.array([c.name for c in chains], dtype=str),
        sequences=np.array([c.sequence for c in chains], dtype=str),
        lengths=np.array([len(c.sequence) for c in chains], dtype=np.int64),
        resolutions=np.array([np.nan if c.resolution is None else c.resolution for c in chains]),
        coords=np.concatenate([c.coords for c in chains]) if chains else np.zeros((0, n_atoms, 3), np.float32),
        atom_mask=np.concatenate([c.atom_mask for c in chains]) if chains else np.zeros((0, n_atoms), bool),
    )


def load_chains(path: str | Path) -> list[RNAChain]:
    """Read chains written by :func:`save_chains`."""
    from .pdb_io import RNAChain

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no chain file at {path}; build it with data_scripts/build_3d_dataset.py")
    data = np.load(path)
    if data["coords"].shape[1:] != (len(ATOM_NAMES), 3):
        raise ValueError(f"{path}: coords have {data['coords'].shape[1]} atom slots, expected {len(ATOM_NAMES)}")
    offsets = np.concatenate([[0], np.cumsum(data["lengths"])])
    chains = []
    for k, (name, sequence) in enumerate(zip(data["names"], data["sequences"])):
        start, end = offsets[k], offsets[k + 1]
        resolution = float(data["resolutions"][k])
        chains.append(RNAChain(
            name=str(name), sequence=str(sequence), coords=data["coords"][start:end],
            atom_mask=data["atom_mask"][start:end], resolution=None if np.isnan(resolution) else resolution,
        ))
    return chains


class StructureDataset(Dataset):
    """Chains as model inputs: token ids (CLS ... EOS), reference coordinates and atom masks, and
    (when ``features`` are given) the 2D channels and floor frames of each chain.

    Args:
        chains: the chains.
        features: one :class:`~modeling_ssrlm.fold3d.features.ChainFeatures` per chain, computed on
            the whole chain, or None for a model that needs none.
        tokenizer: an :class:`SSRLMTokenizer` (a fresh one when omitted).
        crop_length: when set, chains longer than this are cut to a random contiguous window of
            this many residues each time they are read (training); None keeps whole chains.
            Features are cut to the same window.
        seed: seed of the cropping generator.
    """

    def __init__(self, chains: Sequence[RNAChain], features: Sequence[ChainFeatures] | None = None,
                 tokenizer: SSRLMTokenizer | None = None, crop_length: int | None = None, seed: int = 0) -> None:
        if crop_length is not None and crop_length < 1:
            raise ValueError(f"crop_length must be positive, got {crop_length}")
        if features is not None:
            if len(features) != len(chains):
                raise ValueError(f"got {len(features)} feature sets for {len(chains)} chains")
            for chain, feature in zip(chains, features):
                if feature.sequence != chain.sequence:
                    raise ValueError(f"features of {chain.name} were computed for another sequence")
        self.features = None if features is None else list(features)
        self.chains = list(chains)
        self.tokenizer = tokenizer or SSRLMTokenizer()
        self.crop_length = crop_length
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.chains)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        chain = self.chains[index]
        start, end = 0, len(chain.sequence)
        if self.crop_length is not None and end > self.crop_length:
            start = int(self.generator.integers(0, end - self.crop_length + 1))
            end = start + self.crop_length
        input_ids = self.tokenizer(chain.sequence[start:end])["input_ids"]
        item = {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "coords": torch.from_numpy(np.ascontiguousarray(chain.coords[start:end], dtype=np.float32)),
            "atom_mask": torch.from_numpy(chain.atom_mask[start:end].astype(np.float32)),
        }
        if self.features is not None:
            item.update(feature_tensors(self.features[index].crop(start, end)))
        return item


def collate_structures(features: Sequence[dict[str, torch.Tensor]], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Right-pad a list of :class:`StructureDataset` items into a batch with ``attention_mask``.

    Items without ``coords`` (prediction) give a batch without ``coords``/``atom_mask``; items with
    2D channels and floor frames get them padded (see :func:`~modeling_ssrlm.fold3d.features.pad_features`).
    """
    longest = max(len(f["input_ids"]) for f in features)
    batch = len(features)
    input_ids = torch.full((batch, longest), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros(batch, longest, dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature["input_ids"])
        input_ids[row, :n] = feature["input_ids"]
        attention_mask[row, :n] = 1
    result = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "coords" in features[0]:
        residues = longest - 2
        coords = torch.zeros(batch, residues, len(ATOM_NAMES), 3)
        atom_mask = torch.zeros(batch, residues, len(ATOM_NAMES))
        for row, feature in enumerate(features):
            n = len(feature["coords"])
            coords[row, :n] = feature["coords"]
            atom_mask[row, :n] = feature["atom_mask"]
        result.update(coords=coords, atom_mask=atom_mask)
    if "floor_translations" in features[0]:
        result.update(pad_features(features, longest - 2))
    return result
