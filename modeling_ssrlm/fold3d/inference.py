"""Folding sequences and writing 3D structures: one PDB file per sequence, pLDDT (0–100) in the B-factor column.

Two modes, one code path:

* ``"network"``: the structure module's output (it starts from the floor and applies the learned
  updates), with the network pLDDT head;
* ``"floor"``: the A-form floor on the source's decoded pairs, exactly the structure module's
  starting point, with the model's floor pLDDT when one is given — its calibrated linear model of
  the 2D (:mod:`.confidence`) when the config has one, else its floor pLDDT head (B-factors 0
  without a model: the floor needs no weights).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.sequences import record_file_name
from ..tokenization_ssrlm import to_rna
from .features import compute_features, features_batch
from .geometry import DEFAULT_HELIX_EXTENSION, frames_to_atoms, purine_mask
from .modeling_fold3d import SSRLMForStructurePrediction
from .rigid import Rigid
from .secondary import SecondaryStructureSource, get_source

MODES = ("network", "floor")
#: The released structure model, relative to a source checkout (``models/ssrlm-fold3d``).
DEFAULT_MODEL_NAME = "ssrlm-fold3d"


def default_model_dir() -> Path | None:
    """``$SSRLM_FOLD3D_MODEL`` if set, else the copy a built wheel carries (``modeling_ssrlm/pretrained/fold3d``,
    see ``setup.py``), else ``models/ssrlm-fold3d`` of a source checkout, else None."""
    if os.environ.get("SSRLM_FOLD3D_MODEL"):
        return Path(os.environ["SSRLM_FOLD3D_MODEL"])
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "pretrained" / "fold3d", package.parent / "models" / DEFAULT_MODEL_NAME):
        if (candidate / "config.json").is_file():
            return candidate
    return None


@dataclass
class FoldedStructure:
    """One folded sequence: atoms ``(L, n_atoms, 3)`` (Å) and per-residue pLDDT in [0, 1] (None: no confidence)."""

    sequence: str
    positions: np.ndarray
    plddt: np.ndarray | None


@torch.inference_mode()
def fold_sequence(sequence: str, model: SSRLMForStructurePrediction | None = None, mode: str = "network",
                  source: SecondaryStructureSource | str | None = None, floor_steps: int | None = None
                  ) -> FoldedStructure:
    """Fold one normalised sequence in ``mode``; ``model`` may be None only for ``"floor"``.

    ``source``, ``floor_steps`` and the floor's helix extension follow the model's config (without a
    model: ``"viennarna"``, 400 and :data:`~modeling_ssrlm.fold3d.geometry.DEFAULT_HELIX_EXTENSION`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if model is None and mode == "network":
        raise ValueError("mode 'network' needs a model folder")
    if model is not None and not model.config.start_from_floor and mode == "floor":
        raise ValueError("this model was not built on the floor; use mode 'network'")
    config = None if model is None else model.config
    source = get_source(source or (config.secondary_structure_source if config else "viennarna"))
    steps = floor_steps if floor_steps is not None else (config.floor_steps if config else 400)
    extension = config.floor_helix_extension if config else DEFAULT_HELIX_EXTENSION
    features = compute_features(sequence, source, steps, extension)
    if model is None:
        frames = Rigid(torch.from_numpy(features.floor_rotations), torch.from_numpy(features.floor_translations))
        positions = frames_to_atoms(frames, torch.from_numpy(purine_mask(to_rna(sequence))))
        return FoldedStructure(sequence, positions.numpy(), None)
    model.eval()
    batch = {key: value.to(model.device) for key, value in features_batch([features]).items()}
    output = model(**batch)
    if mode == "floor":
        positions, plddt = output.floor_positions[0], output.floor_plddt[0]
    else:
        positions, plddt = output.positions[0], output.plddt[0]
    return FoldedStructure(sequence, positions.float().cpu().numpy(), plddt.float().cpu().numpy())


def write_predicted_structures(
    model: SSRLMForStructurePrediction | None,
    records: Iterable[tuple[str, str]],
    out_dir: Path,
    mode: str = "network",
    source: SecondaryStructureSource | str | None = None,
    file_stem: Callable[[str], str] = record_file_name,
) -> Iterator[tuple[str, Path, float]]:
    """Fold each ``(id, sequence)`` and write ``out_dir/<stem>.pdb``; yield ``(id, path, mean pLDDT)``.

    ``file_stem`` names a record's file after its id (``ssrlm fold3d`` passes one that keeps names
    unique). Sequences must already be normalised (``normalize_sequence``); they are written with ``U``.
    Each file is complete before it is yielded, so an error on a later record loses nothing. The
    mean pLDDT is NaN when there is no confidence (floor without a model).
    """
    from .pdb_io import write_pdb

    out_dir.mkdir(parents=True, exist_ok=True)
    source = None if source is None else get_source(source)
    for identifier, sequence in records:
        folded = fold_sequence(sequence, model, mode, source)
        path = out_dir / f"{file_stem(identifier)}.pdb"
        write_pdb(path, to_rna(sequence), folded.positions, plddt=folded.plddt)
        yield identifier, path, float("nan") if folded.plddt is None else float(folded.plddt.mean())
