#!/usr/bin/env python
"""Train, run and evaluate the SSR-LM tertiary-structure model (METHOD.md §4).

Subcommands:

* ``train``: fit :class:`SSRLMForStructurePrediction` (frozen SSR-LM encoder) on the chain sets
  written by ``data_scripts/build_3d_dataset.py`` with the Hugging Face ``Trainer``; the model is
  saved with ``save_pretrained`` (safetensors) in ``--output-dir``.
* ``predict``: one PDB file per FASTA record, per-residue pLDDT (0-100) in the B-factor column.
* ``evaluate``: C4' lDDT of predicted PDB files against the reference chains, mean lDDT, Pearson r
  between mean pLDDT and lDDT, and the same lDDT for a floor model (ideal A-form helices from the
  ViennaRNA MFE structure, see ``geometry.secondary_structure_baseline``); markdown + JSON.

Example::

    python fold3d.py train --data runs/rna3d --output-dir runs/fold3d --encoder ssrlm-8m --max-steps 300
    python fold3d.py predict --model runs/fold3d --fasta runs/rna3d/test.fasta --out runs/fold3d/pred
    python fold3d.py evaluate --predictions runs/fold3d/pred --chains runs/rna3d/test.npz --out runs/fold3d/eval
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with train.npz and valid.npz")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--encoder", default="ssrlm-8m",
                        help="folder of a pre-trained SSR-LM (save_pretrained) or a preset name for a randomly "
                             "initialised encoder (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--crop-length", type=int, default=96, help="training crop in nucleotides")
    parser.add_argument("--single-dim", type=int, default=64)
    parser.add_argument("--pair-dim", type=int, default=32)
    parser.add_argument("--trunk-blocks", type=int, default=2)
    parser.add_argument("--structure-iterations", type=int, default=4)
    parser.add_argument("--recycles", type=int, default=0)
    parser.add_argument("--attention-maps", action="store_true", help="feed encoder attention maps into the pair")
    parser.add_argument("--fape-clamp", type=float, default=30.0,
                        help="FAPE clamp in Å (default: %(default)s; AlphaFold's 10 Å leaves a small model "
                             "collapsed at the origin on this little data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logging-steps", type=int, default=10)


def build_model(args: argparse.Namespace):
    """A fresh structure model whose encoder is loaded from ``args.encoder`` (folder) or a preset."""
    from modeling_ssrlm.configuration_ssrlm import PRESETS, SSRLMConfig
    from modeling_ssrlm.fold3d import SSRLMForStructurePrediction, SSRLMStructureConfig
    from modeling_ssrlm.modeling_ssrlm import SSRLMModel

    encoder_path = Path(args.encoder)
    if encoder_path.is_dir():
        encoder = SSRLMModel.from_pretrained(encoder_path)
        encoder_config = encoder.config
    elif args.encoder in PRESETS:
        encoder, encoder_config = None, SSRLMConfig.from_preset(args.encoder)
    else:
        raise ValueError(f"--encoder {args.encoder!r} is neither a folder nor one of the presets {sorted(PRESETS)}")
    config = SSRLMStructureConfig(
        encoder_config=encoder_config.to_dict(), single_dim=args.single_dim, pair_dim=args.pair_dim,
        num_trunk_blocks=args.trunk_blocks, num_structure_iterations=args.structure_iterations,
        num_recycles=args.recycles, use_attention_maps=args.attention_maps, fape_clamp=args.fape_clamp,
    )
    model = SSRLMForStructurePrediction(config)
    if encoder is not None:
        model.model.load_state_dict(encoder.state_dict())
    return model


def run_train(args: argparse.Namespace) -> int:
    """Train with the Hugging Face Trainer and save the model with ``save_pretrained``."""
    from transformers import Trainer, TrainingArguments, set_seed

    from modeling_ssrlm.fold3d.data import StructureDataset, collate_structures, load_chains

    set_seed(args.seed)
    model = build_model(args)
    train_chains = load_chains(args.data / "train.npz")
    valid_path = args.data / "valid.npz"
    valid_chains = load_chains(valid_path) if valid_path.is_file() else []
    if not train_chains:
        raise ValueError(f"{args.data / 'train.npz'} holds no chain")
    training_args = TrainingArguments(
        output_dir=str(args.output_dir), max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=1, learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
        lr_scheduler_type="cosine", weight_decay=0.01, max_grad_norm=1.0, logging_steps=args.logging_steps,
        eval_strategy="no", save_strategy="no", report_to=[], remove_unused_columns=False,
        label_names=["coords", "atom_mask"], use_cpu=True, dataloader_num_workers=0, seed=args.seed,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model, args=training_args,
        train_dataset=StructureDataset(train_chains, crop_length=args.crop_length, seed=args.seed),
        eval_dataset=StructureDataset(valid_chains) if valid_chains else None,
        data_collator=collate_structures,
    )
    trainer.train()
    if valid_chains:
        metrics = trainer.evaluate()
        print(f"validation loss {metrics['eval_loss']:.4f} on {len(valid_chains)} chains")
    trainer.save_model(str(args.output_dir))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"saved to {args.output_dir} ({trainable:,} trainable parameters, encoder frozen)")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """Predict every FASTA record; write ``<id>.pdb`` with pLDDT in the B-factor column."""
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
    model = SSRLMForStructurePrediction.from_pretrained(args.model)
    for name, path, plddt in write_predicted_structures(model, records, args.out):
        print(f"{name}\tmean pLDDT {100 * plddt:.1f}\t{path}")
    return 0


def baseline_c4(sequence: str) -> np.ndarray:
    """C4' coordinates of the floor model: A-form helices from the ViennaRNA MFE structure."""
    import RNA

    from modeling_ssrlm.fold3d.geometry import secondary_structure_baseline

    structure, _ = RNA.fold(sequence.replace("N", "A"))
    table = RNA.ptable(structure)
    pairs = [(i - 1, table[i] - 1) for i in range(1, len(table)) if table[i] > i]
    return secondary_structure_baseline(sequence, pairs)


def run_evaluate(args: argparse.Namespace) -> int:
    """Score predicted PDB files against reference chains; write ``evaluation.md`` and ``.json``."""
    from scipy.stats import pearsonr

    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.fold3d.lddt import lddt
    from modeling_ssrlm.fold3d.pdb_io import read_plddt, read_rna_chains, read_structure_text
    from modeling_ssrlm.io.sequences import record_file_name

    references = load_chains(args.chains)
    rows = []
    for reference in references:
        path = args.predictions / f"{record_file_name(reference.name)}.pdb"
        if not path.is_file():
            raise FileNotFoundError(f"no prediction for {reference.name}: expected {path}")
        predicted = read_rna_chains(read_structure_text(path), path.name)
        if len(predicted) != 1 or predicted[0].sequence != reference.sequence:
            raise ValueError(f"{path}: expected one chain with the reference sequence of {reference.name}")
        ref_c4, ref_mask = reference.atom("C4'")
        pred_c4, _ = predicted[0].atom("C4'")
        rows.append({
            "target": reference.name,
            "length": len(reference.sequence),
            "lddt": lddt(pred_c4, ref_c4, ref_mask),
            "mean_plddt": float(np.mean(read_plddt(path))),
            "baseline_lddt": lddt(baseline_c4(reference.sequence), ref_c4, ref_mask),
        })
    model_lddt = np.array([r["lddt"] for r in rows])
    plddt = np.array([r["mean_plddt"] for r in rows])
    baseline = np.array([r["baseline_lddt"] for r in rows])
    correlation = float(pearsonr(plddt, model_lddt).statistic) if len(rows) > 2 and np.ptp(plddt) > 0 else float("nan")
    summary = {
        "targets": len(rows),
        "lddt_atom": "C4'",
        "lddt_cutoff": 15.0,
        "lddt_thresholds": [0.5, 1.0, 2.0, 4.0],
        "mean_lddt": float(model_lddt.mean()),
        "baseline_mean_lddt": float(baseline.mean()),
        "pearson_r_plddt_lddt": correlation,
        "per_target": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# Tertiary structure evaluation ({len(rows)} targets, C4' lDDT, radius 15 Å, thresholds 0.5/1/2/4 Å)",
        "",
        "| model | mean lDDT | Pearson r (mean pLDDT vs lDDT) |",
        "|---|---|---|",
        f"| SSR-LM structure model | {summary['mean_lddt']:.3f} | {correlation:.3f} |",
        f"| baseline: A-form helices from ViennaRNA MFE | {summary['baseline_mean_lddt']:.3f} | – |",
        "",
        "| target | length | lDDT | mean pLDDT | baseline lDDT |",
        "|---|---|---|---|---|",
        *(f"| {r['target']} | {r['length']} | {r['lddt']:.3f} | {r['mean_plddt']:.3f} | {r['baseline_lddt']:.3f} |"
          for r in rows),
    ]
    (args.out / "evaluation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: %(default)s; more threads are slower on a busy machine)")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a structure model")
    _add_train_arguments(train)
    predict = commands.add_parser("predict", help="write one PDB per FASTA record")
    predict.add_argument("--model", type=Path, required=True, help="folder written by train")
    predict.add_argument("--fasta", type=Path, required=True)
    predict.add_argument("--out", type=Path, required=True)
    evaluate = commands.add_parser("evaluate", help="lDDT / pLDDT evaluation with an A-form baseline")
    evaluate.add_argument("--predictions", type=Path, required=True, help="folder of <record>.pdb from predict")
    evaluate.add_argument("--chains", type=Path, required=True, help="reference chains (.npz from build_3d_dataset)")
    evaluate.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads < 1:
        print(f"error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    handlers = {"train": run_train, "predict": run_predict, "evaluate": run_evaluate}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
