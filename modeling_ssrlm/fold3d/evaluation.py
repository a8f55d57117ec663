"""Evaluation of predicted 3D structures (``fold3d.py evaluate``): C4' lDDT, RMSD, TM-score, pLDDT.

For every reference chain and every method the scores are computed on C4' atoms present in the
reference:

* lDDT (:func:`~modeling_ssrlm.fold3d.lddt.lddt`: radius 15 Å, thresholds 0.5/1/2/4 Å); no
  superposition, chirality-blind;
* RMSD after the optimal rigid superposition (``biotite.structure.superimpose``, Kabsch; a
  mirror image is not allowed) with ``biotite.structure.rmsd``;
* TM-score of that same superposition with ``biotite.structure.tm_score``, normalised by the
  reference length. biotite 1.6 computes TM-scores for peptides only (it refuses other residues,
  and its ``d0`` is Zhang & Skolnick's protein formula), so the C4' atoms are handed to it as
  pseudo-``CA`` atoms; this is therefore not US-align's RNA TM-score (``d0 = 0.6 √(L − 0.5) −
  2.5``), and since the superposition minimises RMSD, not the TM-score, it is a lower bound of a
  TM-align search.

Methods: the ``network`` predictions (a folder of PDB files, pLDDT in the B-factor column), the
``floor`` (a folder written with ``--mode floor``, or computed here when none is given) and the
``C4' distance-geometry floor`` of issue 5 (:func:`~modeling_ssrlm.fold3d.geometry.secondary_structure_baseline`
on the same pairs), always computed here. The comparison network vs floor gives the per-target
difference, the fraction of targets the network improves (strictly higher lDDT) and the Pearson r
between mean pLDDT and lDDT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.sequences import record_file_name
from .features import compute_features
from .geometry import DEFAULT_HELIX_EXTENSION, secondary_structure_baseline
from .lddt import lddt
from .secondary import SecondaryStructureSource, get_source

METHOD_LABELS = {
    "network": "structure module on the floor (network)",
    "floor": "floor: rigid A-form helices on the 2D (helix extension as configured), loops by restraints (network start)",
    "distance_geometry_floor": "C4' distance-geometry floor on the same 2D (issue 5)",
}


def _pseudo_ca(coords: np.ndarray):
    import biotite.structure as struc

    atoms = struc.AtomArray(len(coords))
    atoms.coord = coords.astype(np.float32)
    atoms.res_id = np.arange(1, len(coords) + 1)
    atoms.res_name[:] = "ALA"
    atoms.atom_name[:] = "CA"
    atoms.element[:] = "C"
    atoms.chain_id[:] = "A"
    return atoms


def superposition_scores(predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """``(RMSD Å, TM-score)`` of C4' coordinates ``(L, 3)`` after biotite's superposition (see module doc)."""
    import biotite.structure as struc

    mask = np.asarray(mask, dtype=bool)
    if mask.sum() < 3:
        return float("nan"), float("nan")
    fixed, mobile = _pseudo_ca(reference[mask]), _pseudo_ca(predicted[mask])
    fitted, _ = struc.superimpose(fixed, mobile)
    rmsd = float(struc.rmsd(fixed, fitted))
    indices = np.arange(int(mask.sum()))
    tm = float(struc.tm_score(fixed, fitted, indices, indices, reference_length="reference"))
    return rmsd, tm


def score(predicted: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """lDDT, RMSD and TM-score of one C4' prediction."""
    rmsd, tm = superposition_scores(predicted, reference, mask)
    return {"lddt": lddt(predicted, reference, mask), "rmsd": rmsd, "tm_score": tm}


def _read_prediction(folder: Path, reference) -> tuple[np.ndarray, np.ndarray | None]:
    from .pdb_io import read_plddt, read_rna_chains, read_structure_text

    path = folder / f"{record_file_name(reference.name)}.pdb"
    if not path.is_file():
        raise FileNotFoundError(f"no prediction for {reference.name}: expected {path}")
    predicted = read_rna_chains(read_structure_text(path), path.name)
    if len(predicted) != 1 or predicted[0].sequence != reference.sequence:
        raise ValueError(f"{path}: expected one chain with the reference sequence of {reference.name}")
    c4, present = predicted[0].atom("C4'")
    if not present.all():
        raise ValueError(f"{path}: C4' missing at some residues")
    plddt = read_plddt(path)
    return c4, plddt


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(pearsonr(x, y).statistic)


def evaluate_structures(references, predictions: Path, floor_predictions: Path | None = None,
                        source: SecondaryStructureSource | str = "viennarna", floor_steps: int = 400,
                        helix_extension: int = DEFAULT_HELIX_EXTENSION) -> dict:
    """Score every method on every reference chain; returns the summary (see :func:`write_report`).

    Without ``floor_predictions`` the floor is computed here (``source``, ``floor_steps``,
    ``helix_extension``); the distance-geometry floor always uses the source's pairs as decoded.
    """
    source = get_source(source)
    rows = []
    for reference in references:
        ref_c4, ref_mask = reference.atom("C4'")
        row = {"target": reference.name, "length": len(reference.sequence)}
        network_c4, network_plddt = _read_prediction(predictions, reference)
        features = None
        if floor_predictions is not None:
            floor_c4, floor_plddt = _read_prediction(floor_predictions, reference)
        else:
            features = compute_features(reference.sequence, source, floor_steps, helix_extension)
            floor_c4, floor_plddt = features.floor_translations, None
        if features is None:
            features = compute_features(reference.sequence, source, floor_steps, helix_extension)
        dg_c4 = secondary_structure_baseline(reference.sequence, features.pair_list())
        for method, c4, plddt in (("network", network_c4, network_plddt), ("floor", floor_c4, floor_plddt),
                                  ("distance_geometry_floor", dg_c4, None)):
            row[method] = score(c4, ref_c4, ref_mask)
            if plddt is not None:
                row[method]["mean_plddt"] = float(np.mean(plddt))
        row["difference"] = row["network"]["lddt"] - row["floor"]["lddt"]
        rows.append(row)
    methods = {}
    for method in METHOD_LABELS:
        values = {key: [r[method][key] for r in rows] for key in ("lddt", "rmsd", "tm_score")}
        entry = {f"mean_{key}": float(np.nanmean(v)) for key, v in values.items()}
        if all("mean_plddt" in r[method] for r in rows):
            entry["pearson_r_plddt_lddt"] = _pearson([r[method]["mean_plddt"] for r in rows], values["lddt"])
        methods[method] = entry
    differences = np.array([r["difference"] for r in rows])
    return {
        "targets": len(rows),
        "lddt_atom": "C4'",
        "lddt_cutoff": 15.0,
        "lddt_thresholds": [0.5, 1.0, 2.0, 4.0],
        "secondary_structure_source": source.name,
        "methods": methods,
        "network_minus_floor": {
            "mean": float(differences.mean()),
            "median": float(np.median(differences)),
            "improved": int((differences > 0).sum()),
            "improved_fraction": float((differences > 0).mean()),
        },
        "per_target": rows,
    }


def method_table(summary: dict) -> list[str]:
    """The per-method markdown table (mean lDDT, pLDDT–lDDT r, RMSD, TM-score) of an evaluation summary."""
    lines = [
        "| method | mean lDDT | Pearson r (mean pLDDT vs lDDT) | mean RMSD (Å) | mean TM-score |",
        "|---|---|---|---|---|",
    ]
    for method, label in METHOD_LABELS.items():
        entry = summary["methods"][method]
        r = entry.get("pearson_r_plddt_lddt")
        lines.append(f"| {label} | {entry['mean_lddt']:.3f} | {'–' if r is None else f'{r:.2f}'} | "
                     f"{entry['mean_rmsd']:.1f} | {entry['mean_tm_score']:.3f} |")
    return lines


def report_lines(summary: dict) -> list[str]:
    """Markdown tables of a summary."""
    n = summary["targets"]
    comparison = summary["network_minus_floor"]
    lines = [
        f"# Tertiary structure evaluation ({n} targets, C4' lDDT radius 15 Å, thresholds 0.5/1/2/4 Å; "
        f"2D: {summary['secondary_structure_source']})",
        "",
        *method_table(summary),
    ]
    lines += [
        "",
        f"network − floor lDDT: mean {comparison['mean']:+.3f}, median {comparison['median']:+.3f}; "
        f"network better on {comparison['improved']} of {n} targets ({comparison['improved_fraction']:.0%}).",
        "",
        "| target | length | floor lDDT | network lDDT | difference | network pLDDT | floor RMSD | network RMSD "
        "| floor TM | network TM | distance-geometry floor lDDT |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["per_target"]:
        f, m, d = r["floor"], r["network"], r["distance_geometry_floor"]
        lines.append(
            f"| {r['target']} | {r['length']} | {f['lddt']:.3f} | {m['lddt']:.3f} | {r['difference']:+.3f} | "
            f"{m.get('mean_plddt', float('nan')):.3f} | {f['rmsd']:.1f} | {m['rmsd']:.1f} | {f['tm_score']:.3f} | "
            f"{m['tm_score']:.3f} | {d['lddt']:.3f} |"
        )
    return lines


def write_report(summary: dict, out: Path) -> list[str]:
    """Write ``evaluation.json`` and ``evaluation.md`` into ``out``; returns the markdown lines."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = report_lines(summary)
    (out / "evaluation.md").write_text("\n".join(lines) + "\n")
    return lines
