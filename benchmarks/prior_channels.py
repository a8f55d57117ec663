#!/usr/bin/env python
"""Thermodynamic prior channels: what they cost, and which ViennaRNA parameter sets are worth one.

(a) **Cost.** Seconds to compute each channel set (:func:`modeling_ssrlm.thermodynamics.compute_prior_channels`)
    for one seeded random ``ACGU`` sequence per length in ``--lengths``, next to a plain
    ``RNA.fold_compound(seq).pf()`` in the same run (best of ``--repeats``: the machine may be
    shared), and the time to read all eight channels back from the on-disk cache.
(b) **Quality on validation data.** For bpRNA VL0 (the 10–100 nt subset, via
    :func:`modeling_ssrlm.data.ss_datasets.read_bprna`) and SPOT-RNA PDB VL1
    (:func:`~modeling_ssrlm.data.ss_datasets.read_spot_rna_pdb`): per parameter set, the mean strict F1
    (:func:`modeling_ssrlm.evaluation.metrics.pair_scores`) of the MFE structure and of the MEA structure
    (``gamma=1``) of its base-pair probabilities, and the mean AUPRC of those probabilities.
(c) **Decoders** (with ``--model``): the pair model's probabilities decoded by ``threshold`` (its
    config) and by ViennaRNA soft constraints (``vienna_mfe`` / ``vienna_mea``, log-odds transform
    at each ``--scales`` value), mean strict F1 on the same validation splits.

Only validation splits are read: choices made from these numbers never see TS0/TS1/TS2/ArchiveII.
Writes ``benchmarks/results/prior_channels.json`` and ``.md``. Usage::

    python benchmarks/prior_channels.py --model models/ssrlm-8m-ss
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from modeling_ssrlm.evaluation.metrics import auprc, pair_scores
from modeling_ssrlm.data.ss_datasets import SSRecord, read_bprna, read_spot_rna_pdb
from modeling_ssrlm.secondary_structure import matrix_to_pairs
from modeling_ssrlm.thermodynamics import (
    PARAMETER_SETS,
    PRIOR_CHANNELS,
    compute_prior_channels,
    compute_prior_channels_many,
    decode_with_vienna,
    vienna_fold,
    vienna_version,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
CHANNEL_SETS = {
    "mfe:turner2004": ["mfe:turner2004"],
    "bpp:turner2004": ["bpp:turner2004"],
    "bpp+mfe:turner2004": ["bpp:turner2004", "mfe:turner2004"],
    "all 8 channels": list(PRIOR_CHANNELS),
}


def _best_seconds(function, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``function`` (least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def time_channels(lengths: list[int], repeats: int, seed: int) -> list[dict]:
    """(a): seconds per channel set, plain ``pf()`` and cached read-back, per sequence length."""
    import RNA

    generator = random.Random(seed)
    rows = []
    for length in lengths:
        sequence = "".join(generator.choice("ACGU") for _ in range(length))
        row = {"length": length, "plain pf()": _best_seconds(lambda: RNA.fold_compound(sequence).pf(), repeats)}
        for name, channels in CHANNEL_SETS.items():
            row[name] = _best_seconds(lambda: compute_prior_channels(sequence, channels), repeats)
        with tempfile.TemporaryDirectory() as cache_dir:
            list(compute_prior_channels_many([sequence], PRIOR_CHANNELS, cache_dir=cache_dir))
            row["all 8, cached"] = _best_seconds(
                lambda: list(compute_prior_channels_many([sequence], PRIOR_CHANNELS, cache_dir=cache_dir)), repeats
            )
        rows.append({key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()})
        print(f"  timed {length} nt", file=sys.stderr)
    return rows


def validation_splits(data_dir: Path) -> dict[str, list[SSRecord]]:
    """bpRNA VL0 and SPOT-RNA PDB VL1 records (validation roles only)."""
    splits = {}
    for build in read_bprna(data_dir) + read_spot_rna_pdb(data_dir):
        if build.split in ("VL0", "VL1"):
            assert build.role == "valid", build.name
            splits[build.name] = build.records
    return splits


def parameter_set_quality(records: list[SSRecord]) -> dict[str, dict[str, float]]:
    """(b): mean F1 of MFE and MEA structures and mean AUPRC of the bpp, per parameter set."""
    results = {}
    for parameter_set in PARAMETER_SETS:
        f1_mfe, f1_mea, precision_recall = [], [], []
        for record in records:
            folded = vienna_fold(record.sequence, parameter_set, kinds=("mfe", "bpp", "mea"))
            f1_mfe.append(pair_scores(matrix_to_pairs(folded["mfe"]), record.pairs)["f1"])
            f1_mea.append(pair_scores(folded["mea"], record.pairs)["f1"])
            score = auprc(folded["bpp"], record.pairs)
            if not np.isnan(score):
                precision_recall.append(score)
        results[parameter_set] = {
            "f1_mfe": round(float(np.mean(f1_mfe)), 4),
            "f1_mea": round(float(np.mean(f1_mea)), 4),
            "auprc_bpp": round(float(np.mean(precision_recall)), 4),
        }
        print(f"  {parameter_set}: {results[parameter_set]}", file=sys.stderr)
    return results


def decoder_quality(model, records: list[SSRecord], scales: list[float]) -> dict[str, float]:
    """(c): mean F1 of the model's threshold decoder and of the ViennaRNA decoders at each scale."""
    config = model.config
    sequences = [record.sequence for record in records]
    probabilities = model.pair_probabilities(sequences)
    truths = [record.pairs for record in records]

    def mean_f1(decode) -> float:
        scores = [pair_scores(decode(p, s), t)["f1"] for p, s, t in zip(probabilities, sequences, truths)]
        return round(float(np.mean(scores)), 4)

    results = {f"threshold {config.pair_threshold}": mean_f1(lambda p, s: model.decode_pairs(p, s))}
    for method in ("mfe", "mea"):
        for scale in scales:
            results[f"vienna_{method} logodds×{scale}"] = mean_f1(
                lambda p, s: decode_with_vienna(
                    p, s, method, threshold=config.pair_threshold, canonical_only=config.pair_canonical_only,
                    min_loop_length=config.pair_min_loop_length, transform="logodds", scale=scale,
                )
            )
            print(f"  vienna_{method} ×{scale} done", file=sys.stderr)
    return results


def markdown(result: dict) -> str:
    """The result as markdown tables."""
    lines = [f"# Prior channels (ViennaRNA {result['vienna_version']}, {result['machine']['cpu_count']} CPUs)", ""]
    lines += ["## (a) Seconds per sequence (best of %d, one process)" % result["repeats"], ""]
    columns = list(result["timing"][0])
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in result["timing"]]
    for split, quality in result["parameter_sets"].items():
        count = result["validation_counts"][split]
        lines += ["", f"## (b) {split} ({count} records): mean strict F1 and bpp AUPRC", ""]
        lines += ["| parameter set | F1 MFE | F1 MEA (γ=1) | AUPRC bpp |", "|---|---|---|---|"]
        lines += [f"| {name} | {q['f1_mfe']} | {q['f1_mea']} | {q['auprc_bpp']} |" for name, q in quality.items()]
    for split, decoders in result.get("decoders", {}).items():
        lines += ["", f"## (c) {split}: decoders on {result['model']} probabilities, mean strict F1", ""]
        lines += ["| decoder | F1 |", "|---|---|"] + [f"| {name} | {f1} |" for name, f1 in decoders.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="shared data folder")
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 500, 1000], help="timed lengths (nt)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best reported (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random timing sequences")
    parser.add_argument("--model", type=Path, default=None, help="pair-model folder for (c); omit to skip (c)")
    parser.add_argument(
        "--scales", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 0.7, 1.0], help="decoder scales for (c)"
    )
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "prior_channels.json")
    args = parser.parse_args(argv)
    if args.repeats < 1 or min(args.lengths) < 1:
        parser.error("--repeats and --lengths must be positive")

    print("(a) timing", file=sys.stderr)
    result = {
        "vienna_version": vienna_version(),
        "machine": {"cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]},
        "repeats": args.repeats,
        "timing": time_channels(args.lengths, args.repeats, args.seed),
    }
    splits = validation_splits(args.data_dir)
    result["validation_counts"] = {name: len(records) for name, records in splits.items()}
    result["parameter_sets"] = {}
    for name, records in splits.items():
        print(f"(b) {name}", file=sys.stderr)
        result["parameter_sets"][name] = parameter_set_quality(records)
    if args.model is not None:
        from modeling_ssrlm import SSRLMForPairPrediction

        model = SSRLMForPairPrediction.from_pretrained(args.model).eval()
        result["model"] = str(args.model)
        result["decoders"] = {}
        for name, records in splits.items():
            print(f"(c) {name}", file=sys.stderr)
            result["decoders"][name] = decoder_quality(model, records, args.scales)

    text = markdown(result)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(text)
    print(f"written to {args.output} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
