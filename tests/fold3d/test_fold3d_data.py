"""Structure I/O and datasets: parse a PDB written here, write PDB with pLDDT, chain files, batches."""

import biotite.structure as struc
import biotite.structure.io.pdb as biotite_pdb
import numpy as np
import pytest
import torch

from modeling_ssrlm.fold3d.data import (
    StructureDataset,
    collate_structures,
    load_chains,
    save_chains,
)
from modeling_ssrlm.fold3d.geometry import aform_helix_frames, frames_to_atoms
from modeling_ssrlm.fold3d.pdb_io import (
    ATOM_INDEX,
    ATOM_NAMES,
    RNAChain,
    parent_base,
    read_plddt,
    read_resolution,
    read_rna_chains,
    write_pdb,
)


def ideal_atoms(sequence: str) -> np.ndarray:
    """``(L, n_atoms, 3)`` coordinates of an ideal A-form strand (consecutive residues are bonded)."""
    frames = aform_helix_frames(len(sequence))
    purine = torch.tensor([base in "AG" for base in sequence])
    return frames_to_atoms(frames, purine).numpy().astype(np.float32)


def fixture_pdb_text() -> str:
    """Chain A: G, PSU (modified U, HETATM, bonded), A without O2'; a free GDP ligand and a water."""
    coords = ideal_atoms("GUAG")
    names = {"G": "N9", "U": "N1", "A": "N9"}
    atoms = []
    for index, res_name, base, hetero in ((0, "G", "G", False), (1, "PSU", "U", True), (2, "A", "A", False)):
        for slot, atom_name in enumerate(ATOM_NAMES):
            if index == 2 and atom_name == "O2'":
                continue
            name = names[base] if atom_name == "N" else atom_name
            atoms.append(struc.Atom(coords[index, slot], chain_id="A", res_id=index + 1, res_name=res_name,
                                    atom_name=name, element=name[0], hetero=hetero))
    far = coords[3] + 40.0  # ligand nowhere near the chain's O3'/P
    for slot, atom_name in enumerate(ATOM_NAMES[:-1]):
        atoms.append(struc.Atom(far[slot], chain_id="A", res_id=101, res_name="GDP", atom_name=atom_name,
                                element=atom_name[0], hetero=True))
    atoms.append(struc.Atom(far[0] + 5, chain_id="A", res_id=201, res_name="HOH", atom_name="O",
                            element="O", hetero=True))
    pdb_file = biotite_pdb.PDBFile()
    pdb_file.set_structure(struc.array(atoms))
    return "REMARK   2 RESOLUTION.    2.50 ANGSTROMS.\n" + str(pdb_file)


def test_parse_pdb_maps_modified_residues_and_masks_missing_atoms():
    chains = read_rna_chains(fixture_pdb_text(), "fixture.pdb")
    assert len(chains) == 1
    chain = chains[0]
    assert chain.name == "fixture_A"
    assert chain.sequence == "GUA"  # PSU -> U; the unlinked GDP and the water are not residues
    assert chain.resolution == 2.5
    assert chain.atom_mask.sum() == 3 * len(ATOM_NAMES) - 1
    assert not chain.atom_mask[2, ATOM_INDEX["O2'"]]
    np.testing.assert_allclose(chain.coords[1], ideal_atoms("GUAG")[1], atol=1e-3)


def test_parent_base_and_resolution():
    assert [parent_base(name) for name in ("A", "1MA", "PSU", "5MC", "DA", "HOH", "XYZ")] == [
        "A", "A", "U", "C", None, None, None]
    assert read_resolution("_refine.ls_d_res_high   3.10\n") == 3.1
    assert read_resolution("_em_3d_reconstruction.resolution 4.2\n") == 4.2
    assert read_resolution("REMARK   2 RESOLUTION. NOT APPLICABLE.\n") is None


def test_write_pdb_reads_back_with_standard_names_and_plddt(tmp_path):
    sequence = "GCAUN"
    coords = ideal_atoms(sequence)
    plddt = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    path = tmp_path / "model.pdb"
    write_pdb(path, sequence, coords, plddt=plddt)
    atoms = biotite_pdb.PDBFile.read(str(path)).get_structure(model=1, extra_fields=["b_factor"])
    residues = struc.get_residue_starts(atoms)
    assert atoms.res_name[residues].tolist() == ["G", "C", "A", "U", "N"]
    g_names = atoms.atom_name[atoms.res_id == 1].tolist()
    assert g_names == [name if name != "N" else "N9" for name in ATOM_NAMES]
    assert "N1" in atoms.atom_name[atoms.res_id == 2] and "N9" not in atoms.atom_name[atoms.res_id == 2]
    np.testing.assert_allclose(atoms.b_factor[residues], 100 * plddt)
    np.testing.assert_allclose(read_plddt(path), plddt)
    again = read_rna_chains(path.read_text(), path.name)[0]
    assert again.sequence == sequence
    np.testing.assert_allclose(again.coords, coords, atol=1e-3)
    with pytest.raises(ValueError, match="position 1"):
        write_pdb(tmp_path / "bad.pdb", "AX", ideal_atoms("AA"))


def test_chain_files_fasta_dataset_and_collate(tmp_path):
    chains = [
        RNAChain("one", "ACGUA", ideal_atoms("ACGUA"), np.ones((5, len(ATOM_NAMES)), bool), 2.0),
        RNAChain("two", "GGC", ideal_atoms("GGC"), np.ones((3, len(ATOM_NAMES)), bool), None),
    ]
    save_chains(tmp_path / "set.npz", chains)
    loaded = load_chains(tmp_path / "set.npz")
    assert [(c.name, c.sequence, c.resolution) for c in loaded] == [("one", "ACGUA", 2.0), ("two", "GGC", None)]
    np.testing.assert_array_equal(loaded[1].coords, chains[1].coords)

    dataset = StructureDataset(loaded, crop_length=4, seed=0)
    item = dataset[0]
    assert item["input_ids"].shape == (6,) and item["coords"].shape == (4, len(ATOM_NAMES), 3)
    batch = collate_structures([dataset[0], dataset[1]])
    assert batch["input_ids"].tolist()[1] == [2, 7, 7, 6, 3, 0]
    assert batch["attention_mask"].tolist()[1] == [1, 1, 1, 1, 1, 0]
    assert batch["coords"].shape == (2, 4, len(ATOM_NAMES), 3)
    assert batch["atom_mask"][1, 3].sum() == 0

    with pytest.raises(FileNotFoundError, match="build_3d_dataset"):
        load_chains(tmp_path / "missing.npz")
