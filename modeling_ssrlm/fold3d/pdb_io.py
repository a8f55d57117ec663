"""Read RNA chains from PDB / mmCIF files with biotite, and write predicted chains as PDB files.

Reading keeps one record per RNA chain of the first model: its sequence (modified nucleotides
mapped to their parent base through the Chemical Component Dictionary bundled with biotite, ``N``
when there is no parent), the coordinates of a fixed set of backbone/sugar atoms plus the
glycosidic nitrogen (N9 for purines, N1 for pyrimidines) and a mask of the atoms present.
Hetero residues (HETATM) count as part of the chain only when they are covalently linked to a
neighbour (O3'-P distance), so ligands such as a free GDP are not mistaken for nucleotides.

Writing produces standard residue names (A, C, G, U, N) and atom names with the predicted
per-residue pLDDT (0-100) in the B-factor column, readable by biotite, gemmi, PyMOL and ChimeraX.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import biotite.structure as struc
import biotite.structure.info as struc_info
import biotite.structure.io.pdb as biotite_pdb
import biotite.structure.io.pdbx as biotite_pdbx
import numpy as np

from ..tokenization_ssrlm import to_rna
from .residue_constants import ATOM_INDEX, ATOM_NAMES, PURINES, RNA_BASES

_COVALENT_O3_P = 2.0  # Å; an O3'-P bond is ~1.6 Å
_RESOLUTION_PATTERNS = (
    re.compile(r"^REMARK   2 RESOLUTION\.\s+([0-9.]+)\s+ANGSTROM", re.MULTILINE),
    re.compile(r"^_refine\.ls_d_res_high\s+([0-9.]+)", re.MULTILINE),
    re.compile(r"^_em_3d_reconstruction\.resolution\s+([0-9.]+)", re.MULTILINE),
    re.compile(r"^_reflns\.d_resolution_high\s+([0-9.]+)", re.MULTILINE),
)
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz", ".mmcif.gz")


class StructureFileError(ValueError):
    """A structure file cannot be parsed or holds no usable RNA chain."""


@dataclass
class RNAChain:
    """One RNA chain: sequence, per-residue atom coordinates (Å) and masks.

    Attributes:
        name: record id, e.g. ``"R1107_A"``.
        sequence: ``len(sequence) == L`` letters from ``ACGUN``.
        coords: ``(L, len(ATOM_NAMES), 3)`` float32, zeros where missing.
        atom_mask: ``(L, len(ATOM_NAMES))`` bool.
        resolution: resolution in Å when the file states it, else None.
    """

    name: str
    sequence: str
    coords: np.ndarray
    atom_mask: np.ndarray
    resolution: float | None = None

    def __post_init__(self) -> None:
        length = len(self.sequence)
        expected = (length, len(ATOM_NAMES))
        if self.coords.shape != (*expected, 3) or self.atom_mask.shape != expected:
            raise ValueError(
                f"chain {self.name}: coords {self.coords.shape} / atom_mask {self.atom_mask.shape} "
                f"do not match sequence length {length} and {len(ATOM_NAMES)} atom slots"
            )
        if set(self.sequence) - set(RNA_BASES + "N"):
            raise ValueError(f"chain {self.name}: sequence has letters outside ACGUN: {self.sequence!r}")

    def atom(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``(L, 3)`` and mask ``(L,)`` of one atom slot, e.g. ``"C4'"``."""
        index = ATOM_INDEX[name]
        return self.coords[:, index], self.atom_mask[:, index]


def glycosidic_nitrogen(base: str) -> str:
    """Name of the glycosidic nitrogen for a base letter (N9 for A/G, N1 otherwise, incl. N)."""
    return "N9" if base in PURINES else "N1"


def parent_base(res_name: str) -> str | None:
    """Parent base letter of an RNA residue name, ``"N"`` when unknown, None for non-RNA residues.

    Uses the CCD bundled with biotite: ``1MA`` -> ``A``, ``PSU`` -> ``U``; DNA (``DA``), water and
    ions are not RNA and give None.
    """
    try:
        link_type = struc_info.link_type(res_name)
    except KeyError:
        return None
    if link_type is None or "RNA" not in link_type.upper():
        return None
    code = struc_info.one_letter_code(res_name)
    return code if code in RNA_BASES else "N"


def read_resolution(text: str) -> float | None:
    """Resolution in Å stated in a PDB or mmCIF file's text, None when absent (e.g. NMR)."""
    for pattern in _RESOLUTION_PATTERNS:
        match = pattern.search(text)
        if match:
            try:
                return float(match.group(1))
            except ValueError:
                continue
    return None


def read_structure_text(path: str | Path) -> str:
    """Text of a (possibly gzipped) structure file."""
    path = Path(path)
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt") as handle:
            return handle.read()
    return path.read_text()


def _is_cif(name: str) -> bool:
    return name.removesuffix(".gz").endswith((".cif", ".mmcif"))


def parse_atoms(text: str, file_name: str) -> struc.AtomArray:
    """First model of a PDB or mmCIF text (format chosen from ``file_name``'s suffix)."""
    try:
        if _is_cif(file_name):
            return biotite_pdbx.get_structure(biotite_pdbx.CIFFile.read(io.StringIO(text)), model=1)
        return biotite_pdb.PDBFile.read(io.StringIO(text)).get_structure(model=1)
    except Exception as error:  # biotite raises a variety of errors on malformed files
        raise StructureFileError(f"{file_name}: cannot parse structure ({error})") from error


def _residue_record(residue: struc.AtomArray, base: str) -> tuple[np.ndarray, np.ndarray]:
    coords = np.zeros((len(ATOM_NAMES), 3), dtype=np.float32)
    mask = np.zeros(len(ATOM_NAMES), dtype=bool)
    wanted = dict(ATOM_INDEX)
    del wanted["N"]
    glycosidic = glycosidic_nitrogen(base)
    if base == "N" and "N9" in residue.atom_name:
        glycosidic = "N9"
    wanted[glycosidic] = ATOM_INDEX["N"]
    for atom_name, position in zip(residue.atom_name, residue.coord):
        index = wanted.get(str(atom_name))
        if index is not None and not mask[index]:
            coords[index] = position
            mask[index] = True
    return coords, mask


def _linked(residues: list[struc.AtomArray], k: int) -> bool:
    """True when residue ``k`` is covalently bonded (O3'-P) to residue ``k-1`` or ``k+1``."""

    def bond(first: struc.AtomArray, second: struc.AtomArray) -> bool:
        o3 = first.coord[first.atom_name == "O3'"]
        p = second.coord[second.atom_name == "P"]
        return len(o3) > 0 and len(p) > 0 and float(np.linalg.norm(o3[0] - p[0])) < _COVALENT_O3_P

    return (k > 0 and bond(residues[k - 1], residues[k])) or (
        k + 1 < len(residues) and bond(residues[k], residues[k + 1])
    )


def chains_from_atoms(atoms: struc.AtomArray, record_prefix: str,
                      resolution: float | None = None) -> list[RNAChain]:
    """Split an AtomArray into RNA chains (chains without any RNA residue are skipped)."""
    chains = []
    atoms = atoms[atoms.element != "H"]
    for chain_id in dict.fromkeys(atoms.chain_id.tolist()):
        chain_atoms = atoms[atoms.chain_id == chain_id]
        residues = list(struc.residue_iter(chain_atoms))
        kept_bases, kept_coords, kept_masks = [], [], []
        for k, residue in enumerate(residues):
            base = parent_base(str(residue.res_name[0]))
            if base is None or (residue.hetero[0] and not _linked(residues, k)):
                continue
            coords, mask = _residue_record(residue, base)
            if not mask[ATOM_INDEX["C4'"]] and not mask[ATOM_INDEX["P"]]:
                continue
            kept_bases.append(base)
            kept_coords.append(coords)
            kept_masks.append(mask)
        if kept_bases:
            chains.append(
                RNAChain(
                    name=f"{record_prefix}_{chain_id}",
                    sequence="".join(kept_bases),
                    coords=np.stack(kept_coords),
                    atom_mask=np.stack(kept_masks),
                    resolution=resolution,
                )
            )
    return chains


def read_rna_chains(text: str, file_name: str, record_prefix: str | None = None) -> list[RNAChain]:
    """All RNA chains of the first model of a PDB/mmCIF text, with the stated resolution."""
    if record_prefix is None:
        record_prefix = Path(file_name).name.split(".")[0]
    atoms = parse_atoms(text, file_name)
    return chains_from_atoms(atoms, record_prefix, read_resolution(text))


def write_pdb(path: str | Path, sequence: str, coords: np.ndarray, atom_mask: np.ndarray | None = None,
              plddt: np.ndarray | None = None, chain_id: str = "A") -> None:
    """Write one chain as a PDB file with standard residue and atom names.

    Args:
        path: output file.
        sequence: letters from ACGUN (T is read as U).
        coords: ``(L, len(ATOM_NAMES), 3)`` coordinates in Å.
        atom_mask: ``(L, len(ATOM_NAMES))``; atoms with False are not written (default: all).
        plddt: per-residue confidence in [0, 1]; written as 0-100 in the B-factor column.
        chain_id: chain identifier.
    """
    sequence = to_rna(sequence)
    length = len(sequence)
    if coords.shape != (length, len(ATOM_NAMES), 3):
        raise ValueError(f"coords must be ({length}, {len(ATOM_NAMES)}, 3), got {coords.shape}")
    if atom_mask is None:
        atom_mask = np.ones(coords.shape[:2], dtype=bool)
    if plddt is None:
        plddt = np.zeros(length)
    if len(plddt) != length:
        raise ValueError(f"plddt must have length {length}, got {len(plddt)}")
    records = []
    for i, base in enumerate(sequence):
        if base not in RNA_BASES + "N":
            raise ValueError(f"cannot write residue {base!r} at position {i}: expected A, C, G, U or N")
        for slot, atom_name in enumerate(ATOM_NAMES):
            if not atom_mask[i, slot]:
                continue
            name = glycosidic_nitrogen(base) if atom_name == "N" else atom_name
            atom = struc.Atom(
                coords[i, slot], chain_id=chain_id, res_id=i + 1, res_name=base,
                atom_name=name, element=name[0], hetero=False,
                b_factor=float(np.clip(plddt[i], 0.0, 1.0) * 100.0),
            )
            records.append(atom)
    if not records:
        raise ValueError("no atom to write (atom_mask is all False)")
    array = struc.array(records)
    pdb_file = biotite_pdb.PDBFile()
    pdb_file.set_structure(array)
    pdb_file.write(str(path))


def read_plddt(path: str | Path) -> np.ndarray:
    """Per-residue pLDDT in [0, 1] from the B-factor column of a PDB file written by :func:`write_pdb`.

    The value of each residue's first atom is used (all atoms of a residue carry the same value).
    """
    atoms = biotite_pdb.PDBFile.read(str(path)).get_structure(model=1, extra_fields=["b_factor"])
    starts = struc.get_residue_starts(atoms)
    return atoms.b_factor[starts].astype(np.float64) / 100.0
