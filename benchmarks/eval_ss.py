#!/usr/bin/env python
"""Evaluate a secondary-structure model against ViennaRNA on ss-dataset splits (the paper's Table 1).

For each split, the model (``SSRLMForPairPrediction`` or ``SSRLMForContactRegression`` folder; the
class is read from ``config.json``'s ``architectures``) and ViennaRNA run on the same sequences in
the same process, and both are scored with :func:`modeling_ssrlm.evaluation.metrics.score_structures`:

* precision, recall, F1 (strict; per-sequence means, the headline), F1 (±1 shift-tolerant), AUPRC;
* F1 by pair type (Watson–Crick, wobble, non-canonical) and by length bin;
* P@L (precision of the top-L raw probabilities with ``j − i ≥ 6``, as ESM reports contacts).

The model's pairs use its config (``pair_threshold`` and post-processing); AUPRC and P@L use the raw
probabilities (no post-processing). The ViennaRNA row: pairs are the MFE structure (``RNAfold``);
AUPRC and P@L use its McCaskill base-pair probabilities (``RNAfold -p``) — the closest analogue of
a model's probability map.

Timing (``--timing-lengths``, default 100 300 500 1000): one random sequence per length (seeded),
the model's ``predict`` (post-processing included) and ViennaRNA MFE folding, wall-clock seconds
(median of ``--timing-repeats``, after one warm-up run of the model), their ratio, and the peak
resident memory of this process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: lengths run in
ascending order, so the value after each length is the peak reached by then, baseline included).

Outputs ``<out>/eval.json`` and ``<out>/eval.md`` and prints the markdown.

Example::

    python benchmarks/eval_ss.py --model runs/ss-bprna --splits bprna/TS0 --out runs/eval-bprna
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig  # noqa: E402
from modeling_ssrlm.data.labelling import get_folding_backend  # noqa: E402
from modeling_ssrlm.evaluation.metrics import score_structures  # noqa: E402
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction  # noqa: E402
from modeling_ssrlm.data.ss_datasets import load_ss_split  # noqa: E402
from modeling_ssrlm.secondary_structure import parse_dot_bracket  # noqa: E402
from modeling_ssrlm.tokenization_ssrlm import to_rna  # noqa: E402
from modeling_ssrlm.evaluation.metrics import precision_at_l  # noqa: E402
from modeling_ssrlm.modeling_ssrlm_contact import SSRLMForContactRegression  # noqa: E402

MODEL_CLASSES = {cls.__name__: cls for cls in (SSRLMForPairPrediction, SSRLMForContactRegression)}
VIENNA = "ViennaRNA (RNAfold MFE)"
TABLE_COLUMNS = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"), ("f1_shift1", "F1 (±1)"), ("auprc", "AUPRC"))


def load_model(path: str) -> SSRLMForPairPrediction | SSRLMForContactRegression:
    """Load a pair-model folder with the class named in its config (local folders only, never the hub)."""
    if not Path(path).is_dir():
        raise ValueError(f"model folder {path!r} not found")
    config = SSRLMConfig.from_pretrained(path)
    names = [name for name in (config.architectures or []) if name in MODEL_CLASSES]
    if not names:
        raise ValueError(f"{path} does not hold a pair model (architectures: {config.architectures}); "
                         f"expected one of {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[names[0]].from_pretrained(path)


def vienna_predict(sequences: list[str]) -> tuple[list[list[tuple[int, int]]], list[np.ndarray]]:
    """MFE pairs and McCaskill pair-probability matrices from ViennaRNA."""
    import RNA

    backend = get_folding_backend("vienna")
    pairs, probabilities = [], []
    for sequence in sequences:
        pairs.append(parse_dot_bracket(backend.fold(sequence)))
        compound = RNA.fold_compound(to_rna(sequence))
        compound.pf()
        upper = np.array(compound.bpp())[1:, 1:]  # ViennaRNA is 1-based and fills i < j only
        probabilities.append(upper + upper.T)
    return pairs, probabilities


def score(sequences, preds, trues, probabilities) -> dict:
    """:func:`score_structures` plus the mean P@L."""
    result = score_structures(sequences, preds, trues, probabilities)
    result["precision_at_l"] = float(np.mean([precision_at_l(p, t) for p, t in zip(probabilities, trues) if len(p) > 6]))
    return result


def evaluate_split(model, data_root: str, name: str, limit: int | None, batch_tokens: int, with_vienna: bool) -> dict:
    """Scores of the model (and ViennaRNA) on one split, keyed by method name."""
    dataset = load_ss_split(data_root, name)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    sequences = list(dataset["sequence"])
    trues = [[tuple(pair) for pair in pairs] for pairs in dataset["pairs"]]
    start = time.perf_counter()
    predictions = model.predict(sequences, batch_tokens=batch_tokens)
    model_seconds = time.perf_counter() - start
    results = {"SSR-LM": score(sequences, [p.pairs for p in predictions], trues, [p.probabilities for p in predictions])}
    results["SSR-LM"]["seconds"] = model_seconds
    if with_vienna:
        start = time.perf_counter()
        pairs, probabilities = vienna_predict(sequences)
        results[VIENNA] = score(sequences, pairs, trues, probabilities)
        results[VIENNA]["seconds"] = time.perf_counter() - start
    return results


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_inference(model, lengths: list[int], repeats: int, seed: int) -> list[dict]:
    """Per-sequence model vs ViennaRNA wall time and the peak RSS, lengths in ascending order."""
    backend = get_folding_backend("vienna")
    rng = random.Random(seed)
    rows = []
    model.predict(["GGGAAACCC"])  # warm-up (first-call allocations, lazy init)
    for length in sorted(lengths):
        sequence = "".join(rng.choice("ACGU") for _ in range(length))
        model_times, vienna_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            model.predict([sequence])
            model_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            backend.fold(sequence)
            vienna_times.append(time.perf_counter() - start)
        model_seconds, vienna_seconds = statistics.median(model_times), statistics.median(vienna_times)
        rows.append({
            "length": length,
            "model_seconds": model_seconds,
            "vienna_seconds": vienna_seconds,
            "ratio_model_over_vienna": model_seconds / vienna_seconds,
            "peak_rss_mib": peak_rss_mib(),
        })
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _breakdown_table(rows: dict[str, dict], keys: list[str], labels: list[str], per_cell_counts: bool) -> list[str]:
    """One markdown table, a row per method; ``per_cell_counts`` adds each method's ``n_*`` to its cells."""
    lines = ["| Method | " + " | ".join(labels) + " |", "|---" * (len(keys) + 1) + "|"]
    for method, row in rows.items():
        cells = [
            _cell(row[k]) + (f" ({row['n_' + k.removeprefix('f1_')]})" if per_cell_counts else "") for k in keys
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(report: dict) -> str:
    """Render the report as markdown tables (main table, pair types, length bins, timing)."""
    splits = report["splits"]
    columns = TABLE_COLUMNS + (("precision_at_l", "P@L"),)
    lines = [f"# Secondary-structure evaluation: `{report['model']}`", ""]
    lines.append(f"Threshold {report['threshold']}, post-processing {report['postprocessing']}; "
                 "per-sequence means; AUPRC and P@L (top-L, j - i >= 6) on raw probabilities.")
    lines += ["", "| Method | " + " | ".join(f"{split} {label}" for split in splits for _, label in columns) + " |",
              "|---" * (1 + len(splits) * len(columns)) + "|"]
    for method in next(iter(splits.values())):
        cells = [_cell(splits[split][method].get(key)) for split in splits for key, _ in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "## F1 by pair type (in brackets: sequences where the type occurs in prediction or truth)", ""]
    type_keys = ["f1_watson_crick", "f1_wobble", "f1_noncanonical"]
    for split, rows in splits.items():
        lines += [f"**{split}**", ""] + _breakdown_table(rows, type_keys, ["Watson-Crick", "wobble", "non-canonical"], True) + [""]
    lines += ["## F1 by length bin (nt, [lo, hi))", ""]
    for split, rows in splits.items():
        first = next(iter(rows.values()))
        keys = [k for k in first if k.startswith("f1_len_") and first["n_" + k.removeprefix("f1_")]]
        labels = [f"{k.removeprefix('f1_len_').replace('_', '-')} (n={first['n_' + k.removeprefix('f1_')]})" for k in keys]
        lines += [f"**{split}**", ""] + _breakdown_table(rows, keys, labels, False) + [""]
    if report.get("timing"):
        lines += ["## Inference time per sequence (one random sequence, batch 1)", "",
                  f"{report['machine']}; peak memory = process ru_maxrss (ascending lengths, baseline included).", "",
                  "| Length (nt) | SSR-LM (s) | RNAfold MFE (s) | ratio | peak RSS (MiB) |", "|---|---|---|---|---|"]
        for row in report["timing"]:
            lines.append(f"| {row['length']} | {row['model_seconds']:.3f} | {row['vienna_seconds']:.3f} | "
                         f"{row['ratio_model_over_vienna']:.1f} | {row['peak_rss_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="A saved pair-model folder.")
    parser.add_argument("--splits", nargs="+", required=True, help="Split names, e.g. bprna/TS0 spot_rna_pdb/TS1.")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_datasets"), help="ss-dataset build directory.")
    parser.add_argument("--out", required=True, help="Output directory for eval.json and eval.md.")
    parser.add_argument("--limit", type=int, default=None, help="Evaluate only the first N sequences of each split.")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="Padded tokens per inference batch.")
    parser.add_argument("--no-vienna", action="store_true", help="Skip the ViennaRNA baseline row.")
    parser.add_argument("--timing-lengths", type=int, nargs="*", default=[100, 300, 500, 1000],
                        help="Sequence lengths to time (none: skip timing).")
    parser.add_argument("--timing-repeats", type=int, default=1, help="Timed runs per length (median reported).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random timing sequences.")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    if any(length < 1 for length in args.timing_lengths) or args.timing_repeats < 1:
        parser.error("--timing-lengths and --timing-repeats must be positive")
    try:
        model = load_model(args.model)
        splits = {name: evaluate_split(model, args.data_root, name, args.limit, args.batch_tokens, not args.no_vienna)
                  for name in args.splits}
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = model.config
    report = {
        "model": args.model,
        "model_class": type(model).__name__,
        "threshold": config.pair_threshold,
        "postprocessing": (
            {"canonical_only": config.pair_canonical_only, "min_loop_length": config.pair_min_loop_length,
             "matching": config.pair_matching} if config.pair_postprocess else "off"
        ),
        "limit": args.limit,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads",
        "splits": splits,
        "timing": time_inference(model, args.timing_lengths, args.timing_repeats, args.seed) if args.timing_lengths else [],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = to_markdown(report)
    (out / "eval.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
