"""Per-residue atom slots and base classes shared by the 3D model, its geometry and PDB I/O.

Kept apart from :mod:`.pdb_io` so that the model can be imported without biotite.
"""

from __future__ import annotations

__all__ = ["ATOM_INDEX", "ATOM_NAMES", "PURINES", "RNA_BASES"]

#: Atom slots stored per residue. ``N`` is the glycosidic nitrogen: N9 (A, G) or N1 (C, U).
ATOM_NAMES: tuple[str, ...] = (
    "P", "OP1", "OP2", "O5'", "C5'", "C4'", "O4'", "C3'", "O3'", "C2'", "O2'", "C1'", "N",
)
ATOM_INDEX: dict[str, int] = {name: i for i, name in enumerate(ATOM_NAMES)}
PURINES = frozenset("AG")
RNA_BASES = "ACGU"
