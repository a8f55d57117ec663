#!/usr/bin/env python
"""Refresh the model code a released folder carries after the package's model code changed.

Loads each folder with the package, saves it to a temporary folder with ``save_pretrained`` (which
copies exactly the shipped modules the classes import and writes a fresh ``auto_map``), then replaces
the folder's ``*.py`` files and ``config.json`` with those. Weights must come out byte-identical: the
script refuses to touch a folder whose re-saved ``model.safetensors`` differs. Cards, recipes and
evaluations are left as they are.

    python scripts/refresh_model_code.py models/ssrlm-8m models/ssrlm-ss-priors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from transformers import AutoModelForMaskedLM

import modeling_ssrlm  # noqa: F401  (registers the Auto classes)
from modeling_ssrlm import AutoModelForPairPrediction


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refresh(folder: Path) -> None:
    """Re-save ``folder``'s code and config; ``SystemExit`` if its weights would change."""
    architecture = json.loads((folder / "config.json").read_text())["architectures"][0]
    loader = AutoModelForPairPrediction if architecture == "SSRLMForPairPrediction" else AutoModelForMaskedLM
    model = loader.from_pretrained(folder)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model.save_pretrained(scratch)
        if digest(scratch / "model.safetensors") != digest(folder / "model.safetensors"):
            raise SystemExit(f"{folder}: re-saved weights differ; export the folder from its run instead")
        for stale in folder.glob("*.py"):
            stale.unlink()
        for fresh in [*scratch.glob("*.py"), scratch / "config.json"]:
            shutil.copy2(fresh, folder / fresh.name)
    print(f"{folder}: code and config refreshed, weights unchanged")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    for folder in parser.parse_args(argv).folders:
        refresh(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
