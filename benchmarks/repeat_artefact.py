#!/usr/bin/env python
"""Where the pair models' repeat artefact comes from: the untrained main diagonal.

Training masks entries with ``j − i < pair_min_separation`` out of the loss; with 1 (the releases
before stage 4) that is the diagonal, so the network's output on ``(i, i)`` is never constrained
(0 trains it as negatives, the fix). Between a segment and an exact copy of it at
offset ``k``, the neighbourhood of ``(i, i + k)`` holds the same pair features as that of ``(i, i)``,
so the copy diagonal inherits the diagonal's value. Prints, for a seeded ``X AAAA X`` (``X`` random,
40 nt), the mean sigmoid of the raw logits on the main diagonal, on the copy diagonal and at
``j − i = 1, 2, 3``.

    python benchmarks/repeat_artefact.py models/ssrlm-ss-priors models/ssrlm-ss-priors-pdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modeling_ssrlm.evaluation.benchmark import load_pair_model  # noqa: E402
from modeling_ssrlm.modeling_ssrlm_pair import pad_pair_priors  # noqa: E402
from modeling_ssrlm.thermodynamics import compute_prior_channels  # noqa: E402
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    segment = "".join(np.random.default_rng(args.seed).choice(list("ACGU"), 40))
    sequence, offset = segment + "AAAA" + segment, 44
    encoded = SSRLMTokenizer()([sequence], return_tensors="pt")
    print("| model | main diagonal | copy diagonal | j − i = 1 | 2 | 3 |\n|---|---|---|---|---|---|")
    for folder in args.models:
        model = load_pair_model(folder).eval()
        inputs = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if model.config.pair_prior_channels:
            inputs["pair_priors"] = pad_pair_priors([compute_prior_channels(sequence, model.config.pair_prior_channels)])
        with torch.no_grad():
            probabilities = torch.sigmoid(model(**inputs).logits[0]).numpy()
        diagonal = lambda d: float(np.mean(np.diagonal(probabilities, d)))  # noqa: E731
        copies = float(np.mean([probabilities[i, i + offset] for i in range(len(segment))]))
        print(f"| {folder.name} | {diagonal(0):.3f} | {copies:.3f} | {diagonal(1):.3f} | {diagonal(2):.3f} | {diagonal(3):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
