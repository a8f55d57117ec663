#!/usr/bin/env python
"""Train, run, evaluate and export the SSR-LM tertiary-structure model (METHOD.md §4).

Subcommands (the logic lives in ``modeling_ssrlm.fold3d``: ``training``, ``inference``,
``evaluation``, ``export``):

* ``train``: fit :class:`SSRLMForStructurePrediction` on the chain sets written by
  ``data_scripts/build_3d_dataset.py``. The structure module starts from the A-form floor built
  on the 2D of ``--source`` and learns updates to it; the weights of the best validation lDDT are
  saved (safetensors) in ``--output-dir`` with ``training_summary.json``.
* ``predict``: one PDB file per FASTA record, per-residue pLDDT (0-100) in the B-factor column;
  ``--mode network`` (default) or ``--mode floor`` (the floor the network starts from; no model
  needed, B-factors then 0).
* ``evaluate``: C4' lDDT, RMSD and TM-score (biotite) of predicted PDB files against the
  reference chains for the network, the floor and the C4' distance-geometry floor of issue 5;
  per-target differences, fraction improved, Pearson r of pLDDT vs lDDT; markdown + JSON.
* ``calibrate``: fit the floor's calibrated pLDDT (four coefficients, ``modeling_ssrlm.fold3d.confidence``)
  on the training chains, report it on the validation chains next to the floor pLDDT head, and save
  the model with it in ``--out``.
* ``export``: copy a trained model into a released folder with its recipe, evaluation and card.

Example::

    python fold3d.py train --data runs/rna3d --output-dir runs/fold3d/model --max-steps 600
    python fold3d.py predict --model runs/fold3d/model --fasta runs/rna3d/test.fasta --out runs/fold3d/network
    python fold3d.py predict --model runs/fold3d/model --mode floor --fasta runs/rna3d/test.fasta --out runs/fold3d/floor
    python fold3d.py evaluate --predictions runs/fold3d/network --floor-predictions runs/fold3d/floor \\
        --chains runs/rna3d/test.npz --out runs/fold3d/evaluation
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path



def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from modeling_ssrlm.fold3d.training import TrainSettings

    d = TrainSettings()
    parser.add_argument("--data", type=Path, required=True, help="folder with train.npz and valid.npz")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--encoder", default="none",
                        help="folder of a pre-trained SSR-LM (frozen), a preset name for a random frozen encoder, "
                             "or 'none' for an encoder-free model (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=d.max_steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    parser.add_argument("--crop-length", type=int, default=d.crop_length, help="training crop in nucleotides")
    parser.add_argument("--single-dim", type=int, default=d.single_dim)
    parser.add_argument("--pair-dim", type=int, default=d.pair_dim)
    parser.add_argument("--trunk-blocks", type=int, default=d.trunk_blocks)
    parser.add_argument("--structure-iterations", type=int, default=d.structure_iterations)
    parser.add_argument("--recycles", type=int, default=d.recycles)
    parser.add_argument("--attention-maps", action="store_true", help="feed encoder attention maps into the pair")
    parser.add_argument("--no-secondary-structure", action="store_true", help="leave out the 2D channels")
    parser.add_argument("--from-identity", action="store_true",
                        help="start the structure module from identity frames instead of the floor (issue 5 model)")
    parser.add_argument("--no-floor-distances", action="store_true", help="leave out the floor distance channels")
    parser.add_argument("--source", default=d.source,
                        help="2D source: 'viennarna' or 'pair-model:<folder>' (default: %(default)s)")
    parser.add_argument("--floor-steps", type=int, default=d.floor_steps)
    parser.add_argument("--floor-helix-extension", type=int, default=d.floor_helix_extension,
                        help="stacked pairs each helix of the floor grows by at each end (default: %(default)s)")
    parser.add_argument("--fape-clamp", type=float, default=d.fape_clamp, help="FAPE clamp in Å (default: %(default)s)")
    parser.add_argument("--smooth-lddt-weight", type=float, default=d.smooth_lddt_weight)
    parser.add_argument("--position-scale", type=float, default=d.position_scale,
                        help="Å per unit of the predicted translation update (default: %(default)s)")
    parser.add_argument("--eval-steps", type=int, default=d.eval_steps,
                        help="validate (C4' lDDT on whole valid chains) every this many steps")
    parser.add_argument("--feature-cache", default=None, help="folder caching 2D + floor (default: DATA/features)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--logging-steps", type=int, default=d.logging_steps)


def run_train(args: argparse.Namespace) -> int:
    from modeling_ssrlm.fold3d.training import TrainSettings, train_structure_model

    settings = TrainSettings(
        encoder=args.encoder, max_steps=args.max_steps, batch_size=args.batch_size,
        learning_rate=args.learning_rate, warmup_steps=args.warmup_steps, crop_length=args.crop_length,
        single_dim=args.single_dim, pair_dim=args.pair_dim, trunk_blocks=args.trunk_blocks,
        structure_iterations=args.structure_iterations, recycles=args.recycles, attention_maps=args.attention_maps,
        secondary_structure=not args.no_secondary_structure, start_from_floor=not args.from_identity,
        floor_distances=not args.no_floor_distances, source=args.source, floor_steps=args.floor_steps,
        floor_helix_extension=args.floor_helix_extension,
        fape_clamp=args.fape_clamp, smooth_lddt_weight=args.smooth_lddt_weight, position_scale=args.position_scale,
        eval_steps=args.eval_steps, seed=args.seed, logging_steps=args.logging_steps,
        feature_cache=args.feature_cache,
    )
    train_structure_model(args.data, args.output_dir, settings, command=args.command_line)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
    from modeling_ssrlm.fold3d.inference import write_predicted_structures
    from modeling_ssrlm.io.sequences import read_fasta
    from modeling_ssrlm.tokenization_ssrlm import normalize_sequence

    records = []
    for record in read_fasta(args.fasta):
        sequence = normalize_sequence(record.sequence)
        if not sequence:
            raise ValueError(f"FASTA record {record.id!r} has an empty sequence")
        records.append((record.id, sequence))
    model = None if args.model is None else SSRLMForStructurePrediction.from_pretrained(args.model)
    for name, path, plddt in write_predicted_structures(model, records, args.out, args.mode, args.source):
        print(f"{name}\tmean pLDDT {100 * plddt:.1f}\t{path}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.fold3d.evaluation import evaluate_structures, write_report

    summary = evaluate_structures(load_chains(args.chains), args.predictions, args.floor_predictions,
                                  args.source, args.floor_steps, args.floor_helix_extension)
    summary["command"] = args.command_line
    lines = write_report(summary, args.out)
    print("\n".join(lines[:10]))
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    import json

    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
    from modeling_ssrlm.fold3d.export import training_recipe
    from modeling_ssrlm.fold3d.training import calibrate_floor_plddt

    model = SSRLMForStructurePrediction.from_pretrained(args.model)
    report = calibrate_floor_plddt(model, args.data, args.feature_cache)
    report["command"] = args.command_line
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    summary = training_recipe(args.model) or {}
    summary["floor_plddt_calibration"] = report
    (args.out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from modeling_ssrlm.fold3d.export import export_model

    export_model(args.model, args.out, evaluation=args.evaluation, default_mode=args.default_mode)
    print(f"wrote {args.out}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from modeling_ssrlm.fold3d.geometry import DEFAULT_HELIX_EXTENSION

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: %(default)s; more threads are slower on a busy machine)")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a structure model")
    _add_train_arguments(train)
    predict = commands.add_parser("predict", help="write one PDB per FASTA record")
    predict.add_argument("--model", type=Path, default=None, help="folder written by train (optional for --mode floor)")
    predict.add_argument("--mode", choices=("network", "floor"), default="network")
    predict.add_argument("--source", default=None, help="2D source (default: the model's, else viennarna)")
    predict.add_argument("--fasta", type=Path, required=True)
    predict.add_argument("--out", type=Path, required=True)
    evaluate = commands.add_parser("evaluate", help="lDDT / RMSD / TM-score / pLDDT evaluation against the floor")
    evaluate.add_argument("--predictions", type=Path, required=True, help="folder of <record>.pdb from predict")
    evaluate.add_argument("--floor-predictions", type=Path, default=None,
                          help="folder from predict --mode floor (default: compute the floor here, without pLDDT)")
    evaluate.add_argument("--chains", type=Path, required=True, help="reference chains (.npz from build_3d_dataset)")
    evaluate.add_argument("--source", default="viennarna", help="2D source of the computed floors")
    evaluate.add_argument("--floor-steps", type=int, default=400)
    evaluate.add_argument("--floor-helix-extension", type=int, default=DEFAULT_HELIX_EXTENSION,
                          help="helix extension of the computed floors (default: %(default)s)")
    evaluate.add_argument("--out", type=Path, required=True)
    calibrate = commands.add_parser("calibrate", help="fit the floor's calibrated pLDDT on the training chains")
    calibrate.add_argument("--model", type=Path, required=True, help="folder written by train")
    calibrate.add_argument("--data", type=Path, required=True, help="folder with train.npz (and valid.npz to report)")
    calibrate.add_argument("--feature-cache", default=None, help="folder caching 2D + floor (default: DATA/features)")
    calibrate.add_argument("--out", type=Path, required=True, help="where the calibrated model is saved")
    export = commands.add_parser("export", help="write a released model folder (weights, recipe, evaluation, card)")
    export.add_argument("--model", type=Path, required=True, help="folder written by train")
    export.add_argument("--evaluation", type=Path, default=None, help="evaluation.json from evaluate")
    export.add_argument("--default-mode", choices=("network", "floor"), default="network",
                        help="what `ssrlm fold3d` writes with this folder by default")
    export.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.command_line = "python fold3d.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads < 1:
        print(f"error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    handlers = {"train": run_train, "predict": run_predict, "evaluate": run_evaluate,
                "calibrate": run_calibrate, "export": run_export}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
