#!/usr/bin/env python
"""Choose a pair-model folder's decoder and its threshold on validation splits.

The threshold of a ViennaRNA decoder only selects the confident pairs added to the nested structure
(pseudoknots); :func:`~modeling_ssrlm.training.thresholds.search_threshold` folds each sequence once
and scores every grid point. Writes ``pair_decoder`` and ``pair_threshold`` into the folder's
``config.json`` (weights untouched) and prints the search. With ``--noncanonical [PLACEMENT]`` it
then chooses ``pair_noncanonical_threshold`` for the non-canonical pass placed ``anywhere`` or
``stacked`` on decoded pairs (for models trained on 3D-derived structures), on
``--noncanonical-splits`` (default: the same splits; name only splits whose labels hold
non-canonical pairs): the best non-canonical F1 that keeps the overall F1 of decoding without the
pass, ``null`` when none does (:func:`~modeling_ssrlm.training.thresholds.search_noncanonical_threshold`).

    python scripts/choose_decoder_threshold.py runs/hybrid/stage3 --decoder vienna_mfe vienna_mea threshold \\
        --canonical-only --splits bprna/VL0 spot_rna_pdb/VL1 rna3db_2d/valid
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modeling_ssrlm.configuration_ssrlm import PAIR_DECODERS, PAIR_NONCANONICAL_PLACEMENTS  # noqa: E402
from modeling_ssrlm.evaluation.benchmark import load_eval_set, load_pair_model  # noqa: E402
from modeling_ssrlm.modeling_ssrlm_pair import normalize_batch  # noqa: E402
from modeling_ssrlm.training.thresholds import search_noncanonical_threshold, search_threshold  # noqa: E402

GRID = tuple(round(0.05 * step, 2) for step in range(4, 20)) + (0.99,)
NONCANONICAL_GRID = (
    (0.0, 0.001, 0.002, 0.005, 0.01)
    + tuple(round(0.02 * step, 2) for step in range(1, 11))
    + tuple(round(0.05 * s, 2) for s in range(5, 20))
)


def _validation(model, splits: list[str], args) -> tuple[list[str], list, list]:
    """Sequences (normalised), true pairs and the model's probability maps of ``splits``."""
    sets = [load_eval_set(args.data_root, name) for name in splits]
    sequences = normalize_batch([s for eval_set in sets for s in eval_set.sequences])
    truths = [t for eval_set in sets for t in eval_set.truths]
    return sequences, truths, model.pair_probabilities(sequences, prior_cache_dir=args.prior_cache_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--decoder", nargs="+", choices=PAIR_DECODERS, required=True,
                        help="decoder(s) to try; the best on the splits is written (ties: the first listed)")
    parser.add_argument("--splits", nargs="+", required=True, help="validation splits")
    parser.add_argument("--data-root", default=str(REPO_ROOT / "runs" / "ss_all"))
    parser.add_argument("--prior-cache-dir", default=str(REPO_ROOT / "runs" / "prior_cache"))
    parser.add_argument("--noncanonical", nargs="?", const="anywhere", choices=PAIR_NONCANONICAL_PLACEMENTS,
                        help="also choose pair_noncanonical_threshold for this placement (default: anywhere)")
    parser.add_argument("--noncanonical-splits", nargs="+",
                        help="validation splits for the non-canonical pass (default: --splits)")
    parser.add_argument("--canonical-only", action="store_true",
                        help="set pair_canonical_only: decoded structures hold AU/GC/GU pairs only")
    args = parser.parse_args(argv)
    model = load_pair_model(args.model)
    model.config.pair_canonical_only = args.canonical_only
    sequences, truths, probabilities = _validation(model, args.splits, args)
    searches = {}
    for decoder in args.decoder:
        model.config.pair_decoder = decoder
        searches[decoder] = search_threshold(model, probabilities, sequences, truths, GRID)
    decoder = max(searches, key=lambda name: (searches[name].f1, -args.decoder.index(name)))
    model.config.pair_decoder, model.config.pair_threshold = decoder, searches[decoder].threshold
    report = {
        "decoder": decoder, "canonical_only": args.canonical_only, "threshold": searches[decoder].threshold,
        "f1": searches[decoder].f1, "f1_by_decoder": {name: search.f1 for name, search in searches.items()},
        "f1_by_threshold": {name: search.f1_by_threshold for name, search in searches.items()},
    }  # fmt: skip
    if args.noncanonical:
        if args.noncanonical_splits:
            sequences, truths, probabilities = _validation(model, args.noncanonical_splits, args)
        model.config.pair_noncanonical_placement = args.noncanonical
        noncanonical = search_noncanonical_threshold(model, probabilities, sequences, truths, NONCANONICAL_GRID)
        model.config.pair_noncanonical_threshold = None if noncanonical.threshold == 1.0 else noncanonical.threshold
        report.update({
            "noncanonical_placement": args.noncanonical, "noncanonical_splits": args.noncanonical_splits or args.splits,
            "noncanonical_threshold": model.config.pair_noncanonical_threshold,
            "f1_by_noncanonical_threshold": noncanonical.f1_by_threshold,
            "noncanonical_f1_by_noncanonical_threshold": noncanonical.noncanonical_f1_by_threshold,
        })  # fmt: skip
    model.config.save_pretrained(args.model)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
