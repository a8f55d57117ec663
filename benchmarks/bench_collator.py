"""Throughput of ``DataCollatorForSSM`` on CPU (one process) for a realistic pre-training mix.

Samples alternate 1:1 between ncRNA and non-ncRNA, as :func:`modeling_ssrlm.data.corpus.mix_ncrna`
produces them: real Rfam 14.9 seed sequences (``rfam/rfam14.9_seed_ungapped.fa.gz``) each with a
*random* balanced dot-bracket of its length (nested helices of 3-8 bp; what the collator costs does
not depend on whether a structure came from a folding program, so none is run here), and real
coding sequences/transcripts (``non_ncrna/non_ncrna_cds_transcripts.fa.gz``, about half longer than
1022 nt, so they exercise cropping). Features hold raw ``sequence`` strings, as the corpus does,
so tokenization is part of the measured cost; one row also measures pre-tokenized ``input_ids``.

Each configuration collates the same samples in batches of ``--batch-size`` features, packed into
rows of ``--pack-to-length`` tokens; the best of ``--repeats`` passes is reported as samples/s and
real (non-pad) tokens/s (wall clock), and as samples per CPU-second of this process (steadier on a
shared machine), with the realised masking rate and the packing efficiency.

    python benchmarks/bench_collator.py --out benchmarks/results/collator.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from modeling_ssrlm.data.mlm_collator import MASK_STRATEGY_IDS, DataCollatorForSSM
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
RFAM_FASTA = Path("rfam") / "rfam14.9_seed_ungapped.fa.gz"
NON_NCRNA_FASTA = Path("non_ncrna") / "non_ncrna_cds_transcripts.fa.gz"
CONFIGURATIONS = (  # (label, masking, pre-tokenized input_ids)
    ("ssm-mixture", "ssm", False),
    ("ssm-mixture-input-ids", "ssm", True),
    ("sm", "sm", False),
    ("mlm", "mlm", False),
)


def read_fasta_sequences(path: Path) -> list[str]:
    """All sequences of a (gzipped) FASTA file, in file order."""
    sequences, current = [], []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if current:
                    sequences.append("".join(current))
                current = []
            else:
                current.append(line.strip())
    if current:
        sequences.append("".join(current))
    return sequences


def random_structure(length: int, rng: np.random.Generator) -> str:
    """A random balanced dot-bracket: nested helices of 3-8 bp with hairpin loops of at least 3 nt."""
    chars = np.full(length, ord("."), dtype=np.uint8)
    regions = [(0, length)]
    while regions:
        start, stop = regions.pop()
        if stop - start < 11 or rng.random() < 0.2:
            continue
        helix = int(min(rng.integers(3, 9), (stop - start - 3) // 2))
        first = start + int(rng.integers(0, (stop - start - 2 * helix - 3) // 2 + 1))
        end = stop - int(rng.integers(0, (stop - first - 2 * helix - 3) // 2 + 1))
        chars[first : first + helix] = ord("(")
        chars[end - helix : end] = ord(")")
        regions += [(first + helix, end - helix), (end, stop)]
    return chars.tobytes().decode("ascii")


def mixed_features(data_dir: Path, count: int, seed: int) -> list[dict]:
    """``count`` features alternating ncRNA (with a random structure) and non-ncRNA, drawn at random."""
    rng = np.random.default_rng(seed)
    rfam = read_fasta_sequences(data_dir / RFAM_FASTA)
    other = read_fasta_sequences(data_dir / NON_NCRNA_FASTA)
    features = []
    for index in range(count):
        if index % 2 == 0:
            sequence = rfam[rng.integers(len(rfam))]
            features.append({"sequence": sequence, "structure": random_structure(len(sequence), rng), "is_ncrna": True})
        else:
            features.append({"sequence": other[rng.integers(len(other))], "structure": "", "is_ncrna": False})
    return features


def measure(
    collator: DataCollatorForSSM, features: list[dict], batch_size: int, repeats: int
) -> dict[str, float]:
    """Best-of-``repeats`` throughput of ``collator`` over ``features`` and statistics of its output."""
    batches = [features[start : start + batch_size] for start in range(0, len(features), batch_size)]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        outputs = [collator(batch) for batch in batches]
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
    pad = collator.tokenizer.pad_token_id
    real_tokens = sum(int((output["input_ids"] != pad).sum()) for output in outputs)
    slots = sum(output["input_ids"].numel() for output in outputs)
    masked = sum(int((output["labels"] != -100).sum()) for output in outputs)
    nucleotides = real_tokens - 2 * len(features)
    ssm_masked = sum(int((output["masking_strategy"] == MASK_STRATEGY_IDS["ssm"]).sum()) for output in outputs)
    return {
        "samples_per_second": len(features) / best,
        "real_tokens_per_second": real_tokens / best,
        "seconds": best,
        "samples_per_cpu_second": len(features) / best_cpu,
        "cpu_seconds": best_cpu,
        "realised_masking_rate": masked / nucleotides,
        "ssm_share_of_masked": ssm_masked / masked,
        "real_token_fraction": real_tokens / slots,
    }


def markdown_table(result: dict) -> str:
    lines = [
        "| configuration | samples/s | real tokens/s | samples/CPU-s | masking rate | SSM share of masked "
        "| real-token fraction |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in result["configurations"].items():
        lines.append(
            f"| {label} | {row['samples_per_second']:,.0f} | {row['real_tokens_per_second']:,.0f} | "
            f"{row['samples_per_cpu_second']:,.0f} | "
            f"{row['realised_masking_rate']:.4f} | {row['ssm_share_of_masked']:.3f} | "
            f"{row['real_token_fraction']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the shared data directory")
    parser.add_argument("--num-samples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64, help="features per collator call")
    parser.add_argument("--pack-to-length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    for relative in (RFAM_FASTA, NON_NCRNA_FASTA):
        if not (args.data_dir / relative).is_file():
            parser.exit(2, f"error: {args.data_dir / relative} not found; pass --data-dir\n")
    if min(args.num_samples, args.batch_size, args.pack_to_length, args.repeats) < 1:
        parser.exit(2, "error: --num-samples, --batch-size, --pack-to-length and --repeats must be positive\n")

    features = mixed_features(args.data_dir, args.num_samples, args.seed)
    tokenizer = SSRLMTokenizer()
    result = {
        "benchmark": "collator",
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "arguments": {key: str(value) for key, value in vars(args).items()},
        "mean_nucleotides_per_sample": float(np.mean([len(feature["sequence"]) for feature in features])),
        "configurations": {},
    }
    for label, masking, pretokenized in CONFIGURATIONS:
        inputs = features
        if pretokenized:
            ids = tokenizer([feature["sequence"] for feature in features])["input_ids"]
            inputs = [{**feature, "input_ids": token_ids} for feature, token_ids in zip(features, ids)]
        collator = DataCollatorForSSM(
            tokenizer,
            masking=masking,
            pack_to_length=args.pack_to_length,
            max_length=args.pack_to_length,
            seed=args.seed,
        )
        result["configurations"][label] = measure(collator, inputs, args.batch_size, args.repeats)
        print(f"  {label:22s} {result['configurations'][label]['samples_per_second']:9,.0f} samples/s", flush=True)
    print(markdown_table(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
