#!/usr/bin/env python
"""Push a saved SSR-LM model folder, with its generated model card, to the Hugging Face Hub.

1. (Re)generate ``MODEL_DIR/README.md`` with ``model_cards/generate_card.py`` (same card options;
   ``MODEL_DIR/recipe.json`` and ``MODEL_DIR/eval.json`` are used when present).
2. Check, from local files only, that the folder loads as the card says: ``AutoConfig``,
   ``AutoTokenizer`` and the loader of the class in ``config.json``'s ``architectures``
   (``AutoModelForMaskedLM`` for an MLM model, ``SSRLMForPairPrediction`` for a pair model, …),
   with no missing, unexpected or mis-shaped weights.
3. ``create_repo(exist_ok=True)``, then ``upload_folder`` (Trainer checkpoints, optimizer and RNG
   states, pickled training arguments and TensorBoard logs are left out).

``--dry-run`` does steps 1 and 2 and prints the files that would be uploaded. Authentication is
``huggingface_hub``'s own (``HF_TOKEN`` or ``hf auth login``).

Example::

    python scripts/push_to_hub.py models/ssrlm-ss-priors --repo-id USER/ssrlm-ss-priors \\
        --recipe runs/ss-bprna/recipe.json --eval runs/eval-bprna/eval.json --dry-run
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import filter_repo_objects, validate_repo_id

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO_ROOT))

from model_cards.generate_card import (  # noqa: E402
    ARCHITECTURES,
    add_card_arguments,
    read_model_facts,
    write_card,
)

#: Files of a training output folder that do not belong in a model repository.
IGNORE_PATTERNS = [
    "checkpoint-*",
    "runs/*",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state*.pth",
    "training_args.bin",
    "*.lock",
    ".cache/*",
    ".git/*",
]


class ModelFolderError(ValueError):
    """The folder does not load as a complete SSR-LM model."""


def files_to_upload(model_dir: Path) -> list[str]:
    """Relative paths ``upload_folder`` will send: every file, minus :data:`IGNORE_PATTERNS`."""
    paths = sorted(path.relative_to(model_dir).as_posix() for path in model_dir.rglob("*") if path.is_file())
    return list(filter_repo_objects(paths, ignore_patterns=IGNORE_PATTERNS))


def check_loads(model_dir: Path) -> str:
    """Load config, tokenizer and model from local files only; return a one-line summary.

    Raises :class:`ModelFolderError` when the tokenizer does not match the config, the model class is
    not the one in ``architectures``, or weights are missing, unexpected or of the wrong shape.
    """
    import modeling_ssrlm  # noqa: F401  (registers the "ssrlm" type with the Auto classes)
    from transformers import AutoConfig, AutoTokenizer

    architecture = ARCHITECTURES[read_model_facts(model_dir).architecture]
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if len(tokenizer) != config.vocab_size:
        raise ModelFolderError(
            f"{model_dir}: the tokenizer has {len(tokenizer)} tokens but config.vocab_size is {config.vocab_size}"
        )
    loader = getattr(importlib.import_module(architecture.loader_module), architecture.loader_class)
    model, info = loader.from_pretrained(model_dir, local_files_only=True, output_loading_info=True)
    expected = config.architectures[0]
    if type(model).__name__ != expected:
        raise ModelFolderError(f"{model_dir}: {architecture.loader_class} built {type(model).__name__}, not {expected}")
    problems = {key: info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(key)}
    if problems:
        raise ModelFolderError(f"{model_dir}: weights do not match {expected}: {problems}")
    return (
        f"{architecture.loader_class} → {expected}, {model.num_parameters():,} parameters, "
        f"tokenizer {type(tokenizer).__name__}"
    )


def push(model_dir: Path, repo_id: str, private: bool, commit_message: str) -> str:
    """Create the repository if needed and upload the folder; return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=model_dir,
        repo_type="model",
        commit_message=commit_message,
        ignore_patterns=IGNORE_PATTERNS,
    )
    return commit.commit_url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path, help="A folder written by save_pretrained (model + tokenizer).")
    parser.add_argument("--repo-id", required=True, help="Hub repository, USER/NAME.")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    parser.add_argument("--commit-message", default="Upload SSR-LM model and card", help="Commit message.")
    parser.add_argument("--dry-run", action="store_true", help="Write the card and check the folder; do not upload.")
    add_card_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        validate_repo_id(args.repo_id)
        read_model_facts(args.model_dir)  # fails fast, before the heavy imports, on a folder that is not a model
        card = write_card(args.model_dir, recipe_path=args.recipe, eval_paths=args.eval_paths,
                          base_model=args.base_model, license=args.license, repo_id=args.repo_id)
        summary = check_loads(args.model_dir)
    except (OSError, ValueError) as error:  # CardError, ModelFolderError and bad repo ids are ValueErrors
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"card: {card}")
    print(f"loads: {summary}")
    files = files_to_upload(args.model_dir)
    if args.dry_run:
        print(f"dry run: would upload {len(files)} files to {args.repo_id}:")
        print("\n".join(f"  {name}" for name in files))
        return 0
    try:
        url = push(args.model_dir, args.repo_id, args.private, args.commit_message)
    except (HfHubHTTPError, OSError) as error:
        print(f"error: upload to {args.repo_id} failed: {error}", file=sys.stderr)
        return 1
    print(f"uploaded {len(files)} files: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
