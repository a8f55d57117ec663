"""Writing predicted 3D structures: one PDB file per sequence, pLDDT (0–100) in the B-factor column."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from ..io.sequences import record_file_name
from ..tokenization_ssrlm import SSRLMTokenizer, to_rna
from .modeling_fold3d import SSRLMForStructurePrediction
from .pdb_io import write_pdb


@torch.inference_mode()
def write_predicted_structures(
    model: SSRLMForStructurePrediction,
    records: Iterable[tuple[str, str]],
    out_dir: Path,
    file_stem: Callable[[str], str] = record_file_name,
) -> Iterator[tuple[str, Path, float]]:
    """Predict each ``(id, sequence)`` and write ``out_dir/<stem>.pdb``; yield ``(id, path, mean pLDDT)``.

    ``file_stem`` names a record's file after its id (``ssrlm fold3d`` passes one that keeps names
    unique). Sequences must already be normalised (``normalize_sequence``); they are written with ``U``.
    Each file is complete before it is yielded, so an error on a later record loses nothing.
    """
    model.eval()
    tokenizer = SSRLMTokenizer()
    out_dir.mkdir(parents=True, exist_ok=True)
    for identifier, sequence in records:
        batch = tokenizer(sequence, return_tensors="pt").to(model.device)
        output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        plddt = output.plddt[0].float().cpu().numpy()
        path = out_dir / f"{file_stem(identifier)}.pdb"
        write_pdb(path, to_rna(sequence), output.positions[0].float().cpu().numpy(), plddt=plddt)
        yield identifier, path, float(plddt.mean())
