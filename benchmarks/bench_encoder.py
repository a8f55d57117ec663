"""Forward + backward throughput of the 8M encoder on CPU, side by side with ESM and Llama.

All four models see the same sequences (lengths sampled from the Rfam seed corpus, with [CLS]/[EOS])
in one run, so the ratios are comparable even on a noisy machine:

* ``esm-padded``   transformers' ``EsmForMaskedLM`` (rotary, same depth / width / heads), padded batches
* ``llama-padded`` transformers' ``LlamaModel`` of the same shape made bidirectional (``is_causal=False``
  on every attention module and a bidirectional mask), padded batches, plus a linear MLM head
* ``ssrlm-padded`` our ``SSRLMForMaskedLM`` on the same padded batches
* ``ssrlm-packed`` our model on rows packed to ``--row-length`` tokens (``position_ids`` restarting per
  sequence, block-diagonal attention)

Padded batches are filled in random order up to ``--batch-tokens`` tokens *including* padding; packed
batches hold ``batch_tokens / row_length`` rows. Throughput counts real (non-pad) tokens only. Targets
(issue 2): packed ≥ 1.5 × esm-padded, ours padded ≥ 0.95 × llama-padded.

    python benchmarks/bench_encoder.py --num-sequences 400 --out benchmarks/results/encoder.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import EsmConfig, EsmForMaskedLM, LlamaConfig, LlamaModel
from transformers.masking_utils import create_bidirectional_mask

from modeling_ssrlm import SSRLMConfig, SSRLMForMaskedLM
from modeling_ssrlm.data.packing import pack_rows

DEFAULT_FASTA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rfam" / "rfam14.9_seed_ungapped.fa.gz"


def rfam_lengths(fasta: Path, count: int, max_tokens: int, seed: int) -> list[int]:
    """Token lengths (sequence + [CLS]/[EOS], capped at ``max_tokens``) of ``count`` random Rfam records."""
    lengths, current = [], 0
    with gzip.open(fasta, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if current:
                    lengths.append(current)
                current = 0
            else:
                current += len(line.strip())
    if current:
        lengths.append(current)
    rng = random.Random(seed)
    return [min(length + 2, max_tokens) for length in rng.sample(lengths, count)]


def random_ids(length: int, generator: torch.Generator) -> torch.Tensor:
    """[CLS] + random nucleotides + [EOS] (ids as in SSRLMTokenizer)."""
    return torch.cat([torch.tensor([2]), torch.randint(5, 9, (length - 2,), generator=generator), torch.tensor([3])])


def padded_batches(sequences: list[torch.Tensor], batch_tokens: int) -> list[dict[str, torch.Tensor]]:
    """Consecutive sequences grouped so that ``rows × longest`` stays within ``batch_tokens``."""
    batches, current = [], []
    for sequence in sequences:
        longest = max([len(s) for s in current] + [len(sequence)])
        if current and longest * (len(current) + 1) > batch_tokens:
            batches.append(_pad(current))
            current = []
        current.append(sequence)
    if current:
        batches.append(_pad(current))
    return batches


def _pad(sequences: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    longest = max(len(s) for s in sequences)
    input_ids = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
    return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long()}


def packed_batches(sequences: list[torch.Tensor], row_length: int, rows_per_batch: int) -> list[dict[str, torch.Tensor]]:
    """Rows from :func:`~modeling_ssrlm.data.packing.pack_rows`; each row's padded tail is a segment of its own."""
    order, offsets = pack_rows(np.array([len(sequence) for sequence in sequences]), row_length)
    rows = []
    for row in range(len(offsets) - 1):
        members = [sequences[index] for index in order[offsets[row] : offsets[row + 1]]]
        tail = row_length - sum(len(sequence) for sequence in members)
        ids = members + [torch.zeros(tail, dtype=torch.long)]
        positions = [torch.arange(len(sequence)) for sequence in members] + [torch.arange(tail)]
        rows.append({"input_ids": torch.cat(ids), "position_ids": torch.cat(positions)})
    batches = []
    for start in range(0, len(rows), rows_per_batch):
        chunk = rows[start : start + rows_per_batch]
        batches.append({key: torch.stack([row[key] for row in chunk]) for key in chunk[0]})
    return batches


class BidirectionalLlamaForMLM(torch.nn.Module):
    """``LlamaModel`` with causal masking switched off, plus a linear MLM head (the Llama baseline)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.model = LlamaModel(config)
        for layer in self.model.layers:
            layer.self_attn.is_causal = False
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, input_ids, attention_mask):
        embeddings = self.model.embed_tokens(input_ids)
        mask = create_bidirectional_mask(self.model.config, embeddings, attention_mask)
        hidden = self.model(inputs_embeds=embeddings, attention_mask=mask).last_hidden_state
        return self.lm_head(hidden)


def build_models(config: SSRLMConfig) -> dict[str, torch.nn.Module]:
    shape = dict(
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
    )
    esm = EsmForMaskedLM(
        EsmConfig(vocab_size=config.vocab_size, pad_token_id=0, mask_token_id=1, position_embedding_type="rotary",
                  max_position_embeddings=config.max_position_embeddings + 2, **shape)
    )
    llama = BidirectionalLlamaForMLM(
        LlamaConfig(vocab_size=config.vocab_size, pad_token_id=0, rms_norm_eps=config.rms_norm_eps,
                    max_position_embeddings=config.max_position_embeddings, **shape)
    )
    ours = SSRLMForMaskedLM(config)
    for model in (esm, llama, ours):
        model.train()
    return {"esm": esm, "llama": llama, "ssrlm": ours}


def step(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> None:
    """One forward + backward pass with an MLM loss on every real token."""
    labels = batch["input_ids"].masked_fill(batch["input_ids"] == 0, -100)
    if isinstance(model, BidirectionalLlamaForMLM):
        logits = model(batch["input_ids"], batch["attention_mask"])
    else:
        logits = model(**batch).logits
    F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100).backward()
    model.zero_grad(set_to_none=True)


def measure(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], repeats: int) -> float:
    """Real tokens per second over ``repeats`` passes through ``batches`` (after one warm-up batch)."""
    step(model, batches[0])
    real = sum(int((b["input_ids"] != 0).sum()) for b in batches) * repeats
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            step(model, batch)
    return real / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fasta", type=Path, default=DEFAULT_FASTA, help="source of the length distribution")
    parser.add_argument("--num-sequences", type=int, default=400)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--row-length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--preset", default="ssrlm-8m")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    config = SSRLMConfig.from_preset(args.preset)
    lengths = rfam_lengths(args.fasta, args.num_sequences, args.row_length, args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    sequences = [random_ids(length, generator) for length in lengths]
    padded = padded_batches(sequences, args.batch_tokens)
    packed = packed_batches(sequences, args.row_length, max(1, args.batch_tokens // args.row_length))
    fraction = {
        name: sum(int((b["input_ids"] != 0).sum()) for b in batches) / sum(b["input_ids"].numel() for b in batches)
        for name, batches in (("padded", padded), ("packed", packed))
    }

    models = build_models(config)
    runs = [("esm-padded", "esm", padded), ("llama-padded", "llama", padded),
            ("ssrlm-padded", "ssrlm", padded), ("ssrlm-packed", "ssrlm", packed)]
    throughput = {}
    for label, model_name, batches in runs:
        throughput[label] = measure(models[model_name], batches, args.repeats)
        print(f"  {label:13s} {throughput[label]:9.0f} real tokens/s", flush=True)

    result = {
        "preset": args.preset,
        "num_sequences": len(sequences),
        "real_tokens": sum(lengths),
        "batch_tokens": args.batch_tokens,
        "row_length": args.row_length,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "real_token_fraction": fraction,
        "tokens_per_second": throughput,
        "ratios": {
            "ssrlm_packed_over_esm_padded": throughput["ssrlm-packed"] / throughput["esm-padded"],
            "ssrlm_padded_over_llama_padded": throughput["ssrlm-padded"] / throughput["llama-padded"],
            "ssrlm_packed_over_ssrlm_padded": throughput["ssrlm-packed"] / throughput["ssrlm-padded"],
        },
    }
    print(markdown_table(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def markdown_table(result: dict) -> str:
    rows = ["| model | batches | real-token fraction | real tokens/s | × esm-padded |", "|---|---|---|---|---|"]
    esm = result["tokens_per_second"]["esm-padded"]
    for label, value in result["tokens_per_second"].items():
        layout = label.split("-")[1]
        rows.append(
            f"| {label.split('-')[0]} | {layout} | {result['real_token_fraction'][layout]:.2f} | {value:,.0f} | {value / esm:.2f} |"
        )
    ratios = result["ratios"]
    rows.append("")
    rows.append(
        f"packed / esm-padded = {ratios['ssrlm_packed_over_esm_padded']:.2f} (target ≥ 1.5); "
        f"ours padded / llama padded = {ratios['ssrlm_padded_over_llama_padded']:.2f} (target ≥ 0.95)"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
