"""The masking ablation (MLM vs SM vs SSM) at a scale two CPU cores can answer: pipeline behind ``benchmarks/masking_ablation.py``.

For every arm (``train_mlm.py --masking mlm|sm|ssm``) and seed, with equal tokens and everything
else equal (seed ``s`` of every arm shares the initial weights and the row order, only the masks
differ), under ``OUT``:

1. **Data** (shared, once): the secondary-structure splits (``build_ss_datasets.py``, when
   ``--ss-data`` does not exist yet) and the pre-training corpus (``prepare_pretraining.py`` with
   ``--ncrna-consensus``: Rfam seed members carry their family's projected consensus structure,
   and ``--exclude`` on every test split used here *and* on the span probe's held-out families),
   then every record of a held-out family is dropped by accession (``OUT/corpus``, with
   ``heldout_families.txt`` and ``filter.json``). ``--corpus DIR`` uses a ready corpus instead (still
   family-filtered). The fixed probe inputs are written to ``OUT/probe_data`` (span instances,
   held-out corpus sequences, the contact regression's training sequences).
2. **Pre-training** (``runs/<arm>/seed<s>/mlm``): ``train_mlm.py`` with a checkpoint and an
   evaluation every ``curve_every`` steps. Re-running the command resumes an interrupted run from
   its newest checkpoint (``train_mlm.py``'s guarantee: the same masks and rows as an uninterrupted
   run); a finished run is skipped.
3. **Learning curve** (``curve.jsonl``): for every checkpoint, the held-out masked-LM loss with fixed
   token masks (the same positions for every arm, :func:`~modeling_ssrlm.evaluation.probes.heldout_masked_lm_loss`)
   and the span probe on a fixed subset; the arm's own held-out loss (its own masking) comes from
   the Trainer's log. After the curve, checkpoints keep their weights only (optimizer state removed).
4. **Probes** of the final encoder (``probes/*.json``; each skipped when present): span recovery on
   the held-out families and its partner-swap control, attention-contact P@L, the frozen-backbone
   pair probe without and with the thermodynamic prior channels, and (``full_finetune``, on by
   default) the full fine-tune of the pair model with the encoder trained, the use a backbone is
   made for.
5. **Summary** (``results/``): ``results.json``, ``ablation.md`` (mean ± sd over seeds, paired
   comparisons SSM − MLM and SSM − SM with a hierarchical bootstrap over units and seeds and an exact
   sign-flip test over seeds) and ``curves.png``.

Reference backbones get the same probes: one with random weights (``init``), so every probe has its
floor, and optionally a released backbone folder (``released_backbone``, e.g. ``models/ssrlm-8m``),
so the table says whether an arm's backbone beats the one users get today. Each backbone's steps
can run in a separate process (``jobs``), one torch thread each.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .comparison import UnitScores, mean_sd, paired_bootstrap

REPO_ROOT = Path(__file__).resolve().parents[2]
ARMS = ("mlm", "sm", "ssm")
REFERENCE = "init"
RELEASED = "released"
#: Backbones that are probed but not pre-trained here: the table's last columns, in this order.
REFERENCES = (REFERENCE, RELEASED)
COMPARISONS = (("ssm", "mlm"), ("ssm", "sm"))
PRIOR_CHANNELS = ("bpp:turner2004", "mfe:turner2004")
PAIR_VARIANTS = {"frozen": (), "frozen_priors": PRIOR_CHANNELS}
FAMILY_ID = re.compile(r"^(RF\d{5})/")
#: Settings that change no backbone's numbers (which backbones and summaries are made, how the work is
#: spread), left out of the fingerprint: ``--seeds 0`` first and ``--seeds 0 1 2`` later continue one ablation.
RUNTIME_FIELDS = (
    "jobs", "threads", "keep_optimizer_states", "seeds", "arms", "init_reference", "released_backbone", "full_finetune",
    "bootstrap_replicates",
)  # fmt: skip


@dataclass
class AblationSettings:
    """Every choice of the ablation; the defaults are the budget stated in the README."""

    out: str = "runs/masking_ablation"
    ss_data: str = "runs/ss_all"
    corpus: str | None = None  # a prepare_pretraining.py folder; built under OUT when None
    data_dir: str = str(REPO_ROOT.parent / "shared" / "data")
    corpus_limit: int | None = None  # --limit of prepare_pretraining.py (records per input)
    # ---- pre-training (equal for every arm)
    arms: tuple[str, ...] = ARMS
    seeds: tuple[int, ...] = (0, 1, 2)
    preset: str = "ssrlm-1m"
    config_overrides: str = ""
    pack_length: int = 512
    rows_per_step: int = 8
    steps: int = 4000
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    lr_scheduler: str = "cosine"
    validation_fraction: float = 0.01
    ncrna_fraction: float = 0.5  # share of ncRNA *sequences* per batch (METHOD.md §2: 1:1)
    bf16: bool = True
    curve_every: int = 250
    # ---- probe 1: masked-span recovery on held-out families
    span_split: str = "rfam_ss/valid"
    span_min_length: int = 3
    span_max_length: int = 8
    span_records_per_family: int = 20
    curve_span_pairs: int = 300
    # ---- probe 2: attention contacts
    contact_train_split: str = "spot_rna_pdb/TR1"
    contact_train_size: int = 20
    contact_test_splits: tuple[str, ...] = ("spot_rna_pdb/TS1", "spot_rna_pdb/TS2", "bprna/TS0")
    # ---- probe 3: frozen-backbone pair probe
    pair_train_split: str = "bprna/TR0"
    pair_valid_split: str = "bprna/VL0"
    pair_test_splits: tuple[str, ...] = ("bprna/TS0", "spot_rna_pdb/TS1")
    pair_train_size: int = 1000
    pair_valid_size: int = 100
    pair_steps: int = 400
    pair_learning_rate: float = 1e-3
    pair_overrides: str = "pair_pos_weight=5,pair_canonical_only=true"
    pair_max_length: int = 200
    # ---- probe 4: full fine-tune (encoder trained, no priors) of every backbone
    full_finetune: bool = True
    full_finetune_steps: int = 1500
    full_finetune_learning_rate: float = 5e-4
    # ---- statistics, reference, runtime
    bootstrap_replicates: int = 2000
    init_reference: bool = True
    released_backbone: str | None = None  # a released SSRLMForMaskedLM folder probed as one more reference
    jobs: int = 1
    threads: int = 1
    keep_optimizer_states: bool = False

    @property
    def tokens_per_step(self) -> int:
        return self.rows_per_step * self.pack_length

    @property
    def tokens(self) -> int:
        """Token slots per backbone (packed rows are ≥ 99 % real tokens)."""
        return self.steps * self.tokens_per_step

    def fingerprint(self) -> dict:
        values = dataclasses.asdict(self)
        for name in RUNTIME_FIELDS:
            values.pop(name)
        return json.loads(json.dumps(values))


def smoke_settings(**changes) -> AblationSettings:
    """A budget that exercises every step in seconds (tiny model, a few steps, tiny probes)."""
    smoke = dict(
        seeds=(0, 1), preset="ssrlm-1m",
        config_overrides="hidden_size=32,num_hidden_layers=2,num_attention_heads=2,intermediate_size=64",
        pack_length=128, rows_per_step=2, steps=4, warmup_steps=1, curve_every=2, validation_fraction=0.2,
        bf16=False, corpus_limit=200, span_records_per_family=3, curve_span_pairs=4, contact_train_size=2,
        pair_train_size=8, pair_valid_size=4, pair_steps=2, full_finetune_steps=2, bootstrap_replicates=200,
    )  # fmt: skip
    smoke.update(changes)
    return AblationSettings(**smoke)


# --------------------------------------------------------------------------- running the repository's scripts


def load_script(relative_path: str):
    """Import one of the repository's scripts (``train_mlm.py``, ``finetune_ss.py``, …) as a module, once.

    The module is registered in ``sys.modules`` under the file's stem (dataclasses look their module
    up there while it executes), and later calls return that same object: two copies of one script
    would hold two distinct classes of the same name, which pickling (``torch.save`` of training
    arguments) rejects. The tests load scripts through this function too (``tests/script_loader.py``).
    """
    import importlib.util

    path = REPO_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    loaded = sys.modules.get(spec.name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")) == path:
        return loaded
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_script(relative_path: str, argv: list[str]) -> None:
    """Call ``main(argv)`` of a repository script in this process; a non-zero exit status raises."""
    status = load_script(relative_path).main(argv)
    if isinstance(status, int) and status != 0:
        raise RuntimeError(f"{relative_path} {' '.join(argv)} exited with status {status}")


def timed(record: Path, step: str, work: Callable[[], object]) -> None:
    """Run ``work`` and add its wall time to the JSON ``record`` under ``step``."""
    start = time.perf_counter()
    work()
    timings = json.loads(record.read_text()) if record.exists() else {}
    timings[step] = round(timings.get(step, 0.0) + time.perf_counter() - start, 1)
    _write_json(record, timings)


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, path)


def _read_json(path: Path):
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- 1. data


class Ablation:
    """One ablation under ``settings.out``: paths, steps and the summary (see the module docstring)."""

    def __init__(self, settings: AblationSettings):
        self.settings = settings
        self.out = Path(settings.out)
        self.probe_data = self.out / "probe_data"

    # ---- paths
    def backbone_root(self, arm: str, seed: int) -> Path:
        return self.out / "runs" / arm / f"seed{seed}"

    def backbones(self) -> list[tuple[str, int]]:
        runs = [(arm, seed) for seed in self.settings.seeds for arm in self.settings.arms]
        references = [(REFERENCE, self.settings.seeds[0])] if self.settings.init_reference else []
        if self.settings.released_backbone:
            references.append((RELEASED, 0))
        return references + runs

    @property
    def corpus_dir(self) -> Path:
        return self.out / "corpus"

    # ---- settings guard
    def check_settings(self) -> None:
        """Refuse to continue an ablation made with other settings (its numbers would mix two budgets)."""
        path = self.out / "settings.json"
        expected = self.settings.fingerprint()
        if path.exists():
            stored = _read_json(path)
            changed = sorted(key for key in set(stored) | set(expected) if stored.get(key) != expected.get(key))
            if changed:
                raise ValueError(
                    f"{self.out} holds an ablation made with other settings ({', '.join(changed)}); "
                    "use another --out, or the same settings to resume it"
                )
        else:
            _write_json(path, expected)

    # ---- data
    def prepare_data(self) -> None:
        """Step 1: ss splits, the family-filtered corpus and the fixed probe inputs (each skipped when present)."""
        settings = self.settings
        ss_data = Path(settings.ss_data)
        if not (ss_data / "manifest.json").exists():
            run_script("data_scripts/build_ss_datasets.py", [
                "--data-dir", settings.data_dir, "--out", str(ss_data), "--write-fasta", "--threads", str(settings.threads),
                "--sources", "bprna", "archiveii", "spot_rna_pdb", "rna3db_2d", "squarna", "rfam_ss",
            ])  # fmt: skip
        families = self.heldout_families()
        exclude = self.write_exclusion_fasta()
        source = Path(settings.corpus) if settings.corpus else self.out / "corpus_source"
        if settings.corpus is None and not (source / "summary.json").exists():
            data = Path(settings.data_dir)
            argv = [
                "--ncrna-consensus", str(data / "rfam" / "rfam14.9_seed_sto.tar.gz"),
                "--other", str(data / "non_ncrna" / "non_ncrna_cds_transcripts.fa.gz"),
                "--exclude", *map(str, exclude), "--workers", str(settings.threads), "--out", str(source),
            ]
            if settings.corpus_limit is not None:
                argv += ["--limit", str(settings.corpus_limit)]
            run_script("data_scripts/prepare_pretraining.py", argv)
        if not (self.corpus_dir / "filter.json").exists():
            filter_corpus(source, self.corpus_dir, families)
        self.write_probe_inputs()

    def split(self, name: str):
        from ..data.ss_datasets import load_ss_split

        return load_ss_split(self.settings.ss_data, name)

    def heldout_families(self) -> set[str]:
        """Accessions of the span probe's families: its split's ``family`` column and ``<split>.families.tsv``."""
        families = set(self.split(self.settings.span_split)["family"])
        dataset, split = self.settings.span_split.split("/")
        table = Path(self.settings.ss_data) / "data" / dataset / f"{split}.families.tsv"
        if table.exists():
            with table.open() as handle:
                families |= {row["accession"] for row in csv.DictReader(handle, delimiter="\t")}
        return families

    def test_splits(self) -> list[str]:
        settings = self.settings
        return sorted({*settings.contact_test_splits, *settings.pair_test_splits})

    def write_exclusion_fasta(self) -> list[Path]:
        """Every test split and the span split as FASTA: the corpus excludes sequences ≥ 80 % identical to them."""
        paths = []
        for name in [*self.test_splits(), self.settings.span_split]:
            path = self.probe_data / "exclude" / f"{name.replace('/', '_')}.fa"
            if not path.exists():
                dataset = self.split(name)
                text = "".join(f">{i}\n{s}\n" for i, s in zip(dataset["id"], dataset["sequence"]))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            paths.append(path)
        return paths

    def write_probe_inputs(self) -> None:
        """Fixed inputs, identical for every backbone: span instances, held-out sequences, contact training set."""
        from ..data.corpus import load_pretraining_corpus
        from ..training.pretraining import split_validation
        from .probes import span_recovery_instances

        settings = self.settings
        path = self.probe_data / "span_instances.json"
        if not path.exists():
            dataset = self.split(settings.span_split)
            pairs = [[tuple(p) for p in record] for record in dataset["pairs"]]
            instances = span_recovery_instances(
                dataset["sequence"], pairs, dataset["family"], settings.span_min_length, settings.span_max_length,
                per_record=1, max_records_per_unit=settings.span_records_per_family, seed=0,
            )  # fmt: skip
            rng = np.random.default_rng(0)
            count = len(instances) // 2
            curve = sorted(rng.choice(count, size=min(settings.curve_span_pairs, count), replace=False).tolist())
            _write_json(path, {
                "split": settings.span_split, "records": len(dataset),
                "instances": [dataclasses.asdict(instance) for instance in instances],
                "curve_pairs": curve,
            })  # fmt: skip
        path = self.probe_data / "heldout.json"
        if not path.exists():
            corpus = load_pretraining_corpus(self.corpus_dir)
            _, validation = split_validation(corpus, settings.validation_fraction)
            _write_json(path, {"sequences": list(validation["sequence"]), "is_ncrna": list(validation["is_ncrna"])})
        path = self.probe_data / "contact_train.json"
        if not path.exists():
            dataset = self.split(settings.contact_train_split)
            chosen = sorted(np.random.default_rng(0).choice(len(dataset), size=min(settings.contact_train_size, len(dataset)), replace=False).tolist())
            subset = dataset.select(chosen)
            _write_json(path, {"ids": list(subset["id"]), "sequences": list(subset["sequence"]), "pairs": list(subset["pairs"])})

    # ---- fixed inputs, loaded
    def span_inputs(self):
        from .probes import SpanInstance

        stored = _read_json(self.probe_data / "span_instances.json")
        dataset = self.split(stored["split"])
        instances = [SpanInstance(**instance) for instance in stored["instances"]]
        curve = [instances[2 * k + offset] for k in stored["curve_pairs"] for offset in (0, 1)]
        pairs = [[tuple(p) for p in record] for record in dataset["pairs"]]
        return list(dataset["sequence"]), pairs, instances, curve

    def eval_sets(self, names: Sequence[str]) -> dict[str, tuple[list[str], list[list[tuple[int, int]]], list[str]]]:
        sets = {}
        for name in names:
            dataset = self.split(name)
            sets[name] = (list(dataset["sequence"]), [[tuple(p) for p in r] for r in dataset["pairs"]], list(dataset["id"]))
        return sets

    # ------------------------------------------------------------------- 2. pre-training

    def pretrain_argv(self, arm: str, seed: int) -> list[str]:
        settings = self.settings
        argv = [
            "--dataset_dir", str(self.corpus_dir), "--preset", settings.preset, "--masking", arm,
            "--pack_to_length", str(settings.pack_length), "--max_length", str(settings.pack_length),
            "--per_device_train_batch_size", str(settings.rows_per_step), "--per_device_eval_batch_size", str(settings.rows_per_step),
            "--max_steps", str(settings.steps), "--learning_rate", str(settings.learning_rate),
            "--warmup_steps", str(settings.warmup_steps), "--lr_scheduler_type", settings.lr_scheduler,
            "--weight_decay", "0.01", "--logging_steps", str(min(50, settings.curve_every)),
            "--save_steps", str(settings.curve_every), "--eval_strategy", "steps", "--eval_steps", str(settings.curve_every),
            "--validation_fraction", str(settings.validation_fraction), "--ncrna_fraction", str(settings.ncrna_fraction),
            "--seed", str(seed),
            "--report_to", "none", "--disable_tqdm", "true", "--output_dir", str(self.backbone_root(arm, seed) / "mlm"),
        ]  # fmt: skip
        if settings.config_overrides:
            argv += ["--config_overrides", settings.config_overrides]
        if settings.bf16:
            import torch

            argv += ["--bf16"] if torch.cuda.is_available() else ["--bf16", "--use_cpu"]
        return argv

    def pretrain(self, arm: str, seed: int) -> None:
        """Step 2 (skipped when the run has finished; resumed from its newest checkpoint when interrupted)."""
        root = self.backbone_root(arm, seed)
        if (root / "mlm" / "pretraining_summary.json").exists():
            return
        if arm == REFERENCE:
            timed(root / "timings.json", "pretrain", lambda: self.save_initial_model(seed, root / "mlm"))
            return
        if arm == RELEASED:
            self.copy_released_backbone(root / "mlm")
            return
        timed(root / "timings.json", "pretrain", lambda: run_script("train_mlm.py", self.pretrain_argv(arm, seed)))

    def save_initial_model(self, seed: int, output_dir: Path) -> None:
        """The reference backbone: the initial weights of seed ``seed`` (what ``train_mlm.py`` starts from)."""
        from transformers import set_seed

        from ..configuration_ssrlm import SSRLMConfig
        from ..modeling_ssrlm import SSRLMForMaskedLM
        from ..tokenization_ssrlm import SSRLMTokenizer
        from ..training.overrides import parse_config_overrides

        set_seed(seed)
        config = SSRLMConfig.from_preset(self.settings.preset, **parse_config_overrides(self.settings.config_overrides))
        model = SSRLMForMaskedLM(config)
        model.save_pretrained(output_dir)
        SSRLMTokenizer().save_pretrained(output_dir)
        _write_json(output_dir / "pretraining_summary.json", {"reference": "initial weights, no training", "seed": seed})

    def released_source(self) -> Path:
        """``released_backbone`` as a path, checked to be a model folder."""
        source = Path(self.settings.released_backbone)
        if not (source / "config.json").is_file():
            raise FileNotFoundError(f"--released-backbone {source}: no model folder (config.json) there")
        return source

    def copy_released_backbone(self, output_dir: Path) -> None:
        """The released reference: a copy of ``released_backbone`` (probes write next to it, never into ``models/``)."""
        source = self.released_source()
        if output_dir.exists():
            shutil.rmtree(output_dir)
        shutil.copytree(source, output_dir)
        _write_json(output_dir / "pretraining_summary.json", {"reference": "released backbone, copied", "source": str(source)})

    # ------------------------------------------------------------------- 3. learning curve

    def curve(self, arm: str, seed: int) -> None:
        """Step 3: held-out loss and span probe at every checkpoint not yet in ``curve.jsonl``."""
        from ..modeling_ssrlm import SSRLMForMaskedLM
        from .probes import span_recovery

        root = self.backbone_root(arm, seed)
        if arm in REFERENCES:
            return
        path = root / "curve.jsonl"
        done = {json.loads(line)["step"] for line in path.read_text().splitlines()} if path.exists() else set()
        checkpoints = sorted(
            (int(match.group(1)), child)
            for child in (root / "mlm").iterdir()
            if (match := re.fullmatch(r"checkpoint-(\d+)", child.name)) and (child / "trainer_state.json").exists()
        )
        own = self.own_eval_losses(root / "mlm")
        sequences, pairs, _, curve_instances = self.span_inputs()
        for step, checkpoint in checkpoints:
            if step in done:
                continue
            model = SSRLMForMaskedLM.from_pretrained(checkpoint)
            point = {"step": step, "tokens": step * self.settings.tokens_per_step, "own_eval_loss": own.get(step)}
            point.update(self.heldout_losses(model))
            summary = span_recovery(model, sequences, pairs, curve_instances).summary()
            point.update({key: summary[key] for key in ("helix_accuracy", "unpaired_accuracy", "helix_minus_unpaired")})
            with path.open("a") as handle:
                handle.write(json.dumps(point) + "\n")
        if not self.settings.keep_optimizer_states:
            for _, checkpoint in checkpoints:
                for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
                    (checkpoint / name).unlink(missing_ok=True)

    @staticmethod
    def own_eval_losses(run_dir: Path) -> dict[int, float]:
        """``eval_loss`` by step from the Trainer's log (the arm's own masking on the held-out rows)."""
        state = run_dir / "trainer_state.json"
        if not state.exists():
            return {}
        return {entry["step"]: entry["eval_loss"] for entry in _read_json(state)["log_history"] if "eval_loss" in entry}

    def heldout_losses(self, model) -> dict[str, float]:
        from .probes import heldout_masked_lm_loss

        stored = _read_json(self.probe_data / "heldout.json")
        sequences, is_ncrna = stored["sequences"], stored["is_ncrna"]
        max_length = self.settings.pack_length - 2
        result = {}
        for name, chosen in (("", sequences), ("_ncrna", [s for s, n in zip(sequences, is_ncrna) if n]),
                             ("_other", [s for s, n in zip(sequences, is_ncrna) if not n])):  # fmt: skip
            if chosen:
                loss = heldout_masked_lm_loss(model, chosen, max_length=max_length)
                result[f"heldout_loss{name}"] = loss["loss"]
                result[f"unigram{name}"] = loss["unigram"]
                result[f"heldout_accuracy{name}"] = loss["accuracy"]
        return result

    # ------------------------------------------------------------------- 4. probes

    def probes(self, arm: str, seed: int) -> None:
        """Step 4: every probe of the final encoder, each written once to ``probes/<name>.json``."""
        from ..modeling_ssrlm import SSRLMForMaskedLM
        from .probes import contact_probe, partner_swap, span_recovery

        root = self.backbone_root(arm, seed)
        backbone = root / "mlm"
        probes = root / "probes"
        timings = root / "timings.json"

        def once(name: str, work: Callable[[], dict]) -> None:
            path = probes / f"{name}.json"
            if not path.exists():
                timed(timings, f"probe_{name}", lambda: _write_json(path, work()))

        def span() -> dict:
            model = SSRLMForMaskedLM.from_pretrained(backbone)
            sequences, pairs, instances, _ = self.span_inputs()
            result = span_recovery(model, sequences, pairs, instances)
            return {
                "summary": result.summary(),
                "units": {name: scores.to_json() for name, scores in result.unit_scores().items()},
                "heldout": self.heldout_losses(model),
            }

        def contacts() -> dict:
            train = _read_json(self.probe_data / "contact_train.json")
            pairs = [[tuple(p) for p in record] for record in train["pairs"]]
            scores, fit = contact_probe(str(backbone), (train["sequences"], pairs), self.eval_sets(self.settings.contact_test_splits))
            return {"fit": fit, "summary": {name: s.mean() for name, s in scores.items()},
                    "units": {name: s.to_json() for name, s in scores.items()}}  # fmt: skip

        def partner() -> dict:
            model = SSRLMForMaskedLM.from_pretrained(backbone)
            sequences, pairs, instances, _ = self.span_inputs()
            scores = partner_swap(model, sequences, pairs, instances)
            return {"summary": {"partner_following": scores.mean()}, "units": {"partner_following": scores.to_json()}}

        once("span", span)
        once("partner", partner)
        once("contacts", contacts)
        for variant, channels in PAIR_VARIANTS.items():
            once(f"pair_{variant}", lambda channels=channels, variant=variant: self.pair_probe(backbone, root / "pair" / variant, channels))
        if self.settings.full_finetune:
            once("pair_full", lambda: self.pair_probe(backbone, root / "pair" / "full", (), frozen=False))

    def pair_argv(self, source: Path, output_dir: Path, channels: Sequence[str], frozen: bool, steps: int, learning_rate: float) -> list[str]:
        settings = self.settings
        overrides = settings.pair_overrides
        if channels:
            overrides += ",pair_prior_channels=" + json.dumps(list(channels))
        argv = [
            "--backbone", str(source), "--data_root", settings.ss_data,
            "--train_split", settings.pair_train_split, "--eval_split", settings.pair_valid_split,
            "--sample_per_split", str(settings.pair_train_size), "--max_eval_samples", str(settings.pair_valid_size),
            "--max_length", str(settings.pair_max_length), "--config_overrides", overrides,
            "--prior_cache_dir", str(self.out / "prior_cache"), "--prior_workers", "1",
            "--max_steps", str(steps), "--learning_rate", str(learning_rate), "--warmup_steps", str(max(1, steps // 10)),
            "--per_device_train_batch_size", "2", "--lr_scheduler_type", "cosine", "--seed", "0",
            "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
            "--logging_steps", str(max(1, steps // 10)), "--report_to", "none", "--disable_tqdm", "true",
            "--output_dir", str(output_dir),
        ]  # fmt: skip
        return argv + (["--freeze_backbone", "true"] if frozen else [])

    def pair_probe(self, backbone: Path, output_dir: Path, channels: Sequence[str], frozen: bool = True) -> dict:
        """Train the pair head (probe seed 0), score the test splits: on the frozen encoder with the probe's
        budget, or (``frozen=False``, probe 4) with the encoder trained, at the full fine-tune's budget."""
        settings = self.settings
        if frozen:
            steps, rate = settings.pair_steps, settings.pair_learning_rate
        else:
            steps, rate = settings.full_finetune_steps, settings.full_finetune_learning_rate
        if not (output_dir / "finetune_summary.json").exists():
            run_script("finetune_ss.py", self.pair_argv(backbone, output_dir, channels, frozen, steps, rate))
        return self.score_pair_model(output_dir)

    def score_pair_model(self, model_dir: Path) -> dict:
        from ..modeling_ssrlm_pair import SSRLMForPairPrediction
        from .probes import pair_probe_scores

        model = SSRLMForPairPrediction.from_pretrained(model_dir)
        scores = pair_probe_scores(model, self.eval_sets(self.settings.pair_test_splits), str(self.out / "prior_cache"))
        summary = _read_json(model_dir / "finetune_summary.json")
        return {
            "valid_f1": summary["final_eval_metrics"].get("final_eval_f1"),
            "threshold": summary["threshold"],
            "summary": {name: {key: s.mean() for key, s in metrics.items()} for name, metrics in scores.items()},
            "units": {name: metrics["f1"].to_json() for name, metrics in scores.items()},
        }

    # ------------------------------------------------------------------- driving

    def run_backbone(self, arm: str, seed: int) -> None:
        """Steps 2–4 for one backbone (what a worker process runs)."""
        import torch

        torch.set_num_threads(self.settings.threads)
        self.pretrain(arm, seed)
        timed(self.backbone_root(arm, seed) / "timings.json", "curve", lambda: self.curve(arm, seed))
        self.probes(arm, seed)

    def pair_variants(self) -> list[str]:
        """The pair probes every backbone gets: the frozen ones, then ``full`` (probe 4) when enabled."""
        return [*PAIR_VARIANTS, *(["full"] if self.settings.full_finetune else [])]

    def backbone_done(self, arm: str, seed: int) -> bool:
        probes = self.backbone_root(arm, seed) / "probes"
        names = ("span", "partner", "contacts", *(f"pair_{v}" for v in self.pair_variants()))
        return all((probes / f"{name}.json").exists() for name in names)

    def run(self, worker_command: Callable[[str, int], list[str]] | None = None) -> dict:
        """Everything: data, every backbone (``jobs`` at a time in worker processes), summary."""
        self.check_settings()
        if self.settings.released_backbone:
            self.released_source()  # before any work
        self.prepare_data()
        pending = [(arm, seed) for arm, seed in self.backbones() if not self.backbone_done(arm, seed)]
        if self.settings.jobs > 1 and worker_command is not None:
            run_workers(pending, self.settings.jobs, worker_command, self.out, self.settings.threads)
        else:
            for arm, seed in pending:
                print(f"[masking ablation] {arm} seed {seed}", flush=True)
                self.run_backbone(arm, seed)
        return self.summarize()

    # ------------------------------------------------------------------- 5. summary

    def collect(self) -> dict:
        """Per arm and seed: every probe's per-unit scores and pooled values, curve and timings."""
        results: dict = {}
        for arm, seed in self.backbones():
            root = self.backbone_root(arm, seed)
            probes = root / "probes"
            entry: dict = {"metrics": {}, "units": {}}
            span = _read_json(probes / "span.json")
            for name, value in span["heldout"].items():
                entry["metrics"][name] = value
            for name in ("helix_accuracy", "unpaired_accuracy", "helix_minus_unpaired", "helix_pair_consistency"):
                entry["units"][f"span:{name}"] = UnitScores.from_json(span["units"][name])
            partner = _read_json(probes / "partner.json")
            entry["units"]["span:partner_following"] = UnitScores.from_json(partner["units"]["partner_following"])
            contacts = _read_json(probes / "contacts.json")
            for split, scores in contacts["units"].items():
                entry["units"][f"contacts_p@l:{split}"] = UnitScores.from_json(scores)
            for variant in self.pair_variants():
                pair = _read_json(probes / f"pair_{variant}.json")
                for split, scores in pair["units"].items():
                    entry["units"][f"pair_f1_{variant}:{split}"] = UnitScores.from_json(scores)
                entry["metrics"][f"pair_valid_f1_{variant}"] = pair["valid_f1"]
            own = self.own_eval_losses(root / "mlm")
            if own:
                entry["metrics"]["own_eval_loss"] = own[max(own)]
            curve = root / "curve.jsonl"
            entry["curve"] = [json.loads(line) for line in curve.read_text().splitlines()] if curve.exists() else []
            entry["timings"] = _read_json(root / "timings.json") if (root / "timings.json").exists() else {}
            results.setdefault(arm, {})[seed] = entry
        return results

    def summarize(self) -> dict:
        """Write ``results/results.json``, ``results/ablation.md`` and ``results/curves.png``; return the results."""
        settings = self.settings
        collected = self.collect()
        arms = [arm for arm in settings.arms if arm in collected]
        unit_metrics = sorted(next(iter(collected[arms[0]].values()))["units"])
        scalar_metrics = sorted(next(iter(collected[arms[0]].values()))["metrics"])
        table: dict = {}
        for metric in [*scalar_metrics, *unit_metrics]:
            row = {}
            for arm in [*arms, *(name for name in REFERENCES if name in collected)]:
                values = []
                for seed, entry in sorted(collected[arm].items()):
                    value = entry["units"][metric].mean() if metric in entry["units"] else entry["metrics"].get(metric)
                    values.append(math.nan if value is None else value)
                row[arm] = {"per_seed": values, "mean": mean_sd(values)[0], "sd": mean_sd(values)[1]}
            table[metric] = row
        comparisons: dict = {}
        for first, second in COMPARISONS:
            if first not in collected or second not in collected:
                continue
            for metric in unit_metrics:
                a = [collected[first][seed]["units"][metric] for seed in settings.seeds]
                b = [collected[second][seed]["units"][metric] for seed in settings.seeds]
                comparison = paired_bootstrap(a, b, replicates=settings.bootstrap_replicates)
                comparisons.setdefault(f"{first}-{second}", {})[metric] = dataclasses.asdict(comparison)
        timings = {arm: {seed: entry["timings"] for seed, entry in collected[arm].items()} for arm in collected}
        results = {
            "settings": dataclasses.asdict(settings),
            "references": {name: self.reference_label(name) for name in REFERENCES if name in collected},
            "tokens_per_backbone": settings.tokens,
            "parameters": count_parameters(self.backbone_root(arms[0], settings.seeds[0]) / "mlm"),
            "table": table,
            "comparisons": comparisons,
            "curves": {arm: {seed: entry["curve"] for seed, entry in collected[arm].items()} for arm in arms},
            "timings": timings,
        }
        results_dir = self.out / "results"
        _write_json(results_dir / "results.json", results)
        (results_dir / "ablation.md").write_text(format_markdown(results))
        plot_curves(results, results_dir / "curves.png")
        return results


    def reference_label(self, name: str) -> str:
        """The table's column header of a reference backbone."""
        if name == REFERENCE:
            return "init (random weights)"
        root = self.backbone_root(name, 0) / "mlm"
        return f"released `{self.settings.released_backbone}` ({count_parameters(root):,} parameters)"


def count_parameters(model_dir: Path) -> int:
    from ..modeling_ssrlm import SSRLMForMaskedLM

    return sum(p.numel() for p in SSRLMForMaskedLM.from_pretrained(model_dir).parameters())


def filter_corpus(source: Path, target: Path, families: set[str]) -> dict:
    """Copy the shards of corpus ``source`` to ``target`` without the records of ``families``.

    A record belongs to a family when its id is ``<accession>/…`` (``prepare_pretraining.py
    --ncrna-consensus`` names members so). Writes ``heldout_families.txt`` and ``filter.json`` (counts)
    last, so a folder with ``filter.json`` is complete.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = sorted((source / "train").glob("*.parquet")) if (source / "train").is_dir() else sorted(source.rglob("*.parquet"))
    shards = [path for path in shards if not path.name.startswith((".", "_")) and path.name != "plan.parquet"]
    if not shards:
        raise FileNotFoundError(f"no corpus shards under {source}")
    if target.exists():
        shutil.rmtree(target)
    (target / "train").mkdir(parents=True)
    counts = {"records": 0, "dropped": 0, "dropped_families": {}}
    for path in shards:
        table = pq.read_table(path)
        keep = []
        for record_id in table.column("id").to_pylist():
            match = FAMILY_ID.match(record_id)
            dropped = bool(match) and match.group(1) in families
            keep.append(not dropped)
            if dropped:
                family = match.group(1)
                counts["dropped_families"][family] = counts["dropped_families"].get(family, 0) + 1
        counts["records"] += len(keep)
        counts["dropped"] += len(keep) - sum(keep)
        pq.write_table(table.filter(pa.array(keep, pa.bool_())), target / "train" / path.name)
    (target / "heldout_families.txt").write_text("".join(f"{family}\n" for family in sorted(families)))
    counts["kept"] = counts["records"] - counts["dropped"]
    counts["source"] = str(source)
    _write_json(target / "filter.json", counts)
    return counts


def run_workers(pending: list[tuple[str, int]], jobs: int, command: Callable[[str, int], list[str]], out: Path, threads: int) -> None:
    """Run one worker process per backbone, ``jobs`` at a time; each logs to ``<backbone>/log.txt``."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    queue = list(pending)
    running: list[tuple[subprocess.Popen, tuple[str, int], object]] = []
    failures = []
    while queue or running:
        while queue and len(running) < jobs:
            arm, seed = queue.pop(0)
            log_path = out / "runs" / arm / f"seed{seed}" / "log.txt"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = log_path.open("a")
            print(f"[masking ablation] {arm} seed {seed} → {log_path}", flush=True)
            running.append((subprocess.Popen(command(arm, seed), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment), (arm, seed), log))
        time.sleep(2)
        for item in list(running):
            process, backbone, log = item
            if process.poll() is not None:
                log.close()
                running.remove(item)
                if process.returncode != 0:
                    failures.append(f"{backbone[0]} seed {backbone[1]} (exit {process.returncode})")
    if failures:
        raise RuntimeError(f"worker(s) failed: {', '.join(failures)}; see their log.txt")


# --------------------------------------------------------------------------- report

METRIC_LABELS = {
    "heldout_loss": "held-out MLM loss, fixed token masks (nats; all)",
    "heldout_loss_ncrna": "held-out MLM loss, ncRNA",
    "heldout_loss_other": "held-out MLM loss, non-ncRNA",
    "unigram": "unigram floor of that loss (base frequencies)",
    "unigram_ncrna": "unigram floor, ncRNA",
    "unigram_other": "unigram floor, non-ncRNA",
    "heldout_accuracy": "held-out masked accuracy, fixed token masks (all)",
    "heldout_accuracy_ncrna": "held-out masked accuracy, ncRNA",
    "heldout_accuracy_other": "held-out masked accuracy, non-ncRNA",
    "own_eval_loss": "held-out loss under the arm's own masking",
    "span:helix_accuracy": "span probe: helix-strand recovery",
    "span:unpaired_accuracy": "span probe: unpaired-window recovery",
    "span:helix_minus_unpaired": "span probe: helix − unpaired",
    "span:helix_pair_consistency": "span probe: predicted base pairs with partner",
    "span:partner_following": "span probe: pairing follows a mutated partner strand (0 = partner ignored)",
}


def _label(metric: str) -> str:
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    name, _, split = metric.partition(":")
    if name == "contacts_p@l":
        return f"attention contacts P@L, {split}"
    if name == "pair_f1_full":
        return f"full fine-tune (encoder trained, no priors) F1, {split}"
    if name == "pair_valid_f1_full":
        return "full fine-tune F1, validation subset"
    if name.startswith("pair_f1_"):
        variant = name[len("pair_f1_"):].replace("frozen_priors", "frozen + priors")
        return f"pair probe ({variant}) F1, {split}"
    if name.startswith("pair_valid_f1_"):
        variant = name[len("pair_valid_f1_"):].replace("frozen_priors", "frozen + priors")
        return f"pair probe ({variant}) F1, validation subset"
    return metric


def _cell(entry: dict) -> str:
    values = entry["per_seed"]
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{entry['mean']:.3f} ± {entry['sd']:.3f} ({', '.join(f'{v:.3f}' for v in values)})"


def format_markdown(results: dict) -> str:
    """The ablation's tables: budget, mean ± sd per arm, paired comparisons."""
    settings = results["settings"]
    table = results["table"]
    arms = [arm for arm in settings["arms"] if any(arm in row for row in table.values())]
    references = results.get("references", {})
    seconds = {arm: sum(sum(t.values()) for t in by_seed.values()) for arm, by_seed in results["timings"].items()}
    lines = [
        f"Budget per backbone: `{settings['preset']}` ({results['parameters']:,} parameters"
        + (f", overrides `{settings['config_overrides']}`" if settings["config_overrides"] else "")
        + f"), {settings['steps']} steps × {settings['rows_per_step']} rows × {settings['pack_length']} tokens = "
        f"{results['tokens_per_backbone']:,} token slots, lr {settings['learning_rate']} ({settings['lr_scheduler']}, "
        f"{settings['warmup_steps']} warm-up steps), {'bf16 autocast' if settings['bf16'] else 'fp32'}; seeds "
        f"{list(settings['seeds'])}. Pair probe: {settings['pair_steps']} steps, batch 2, frozen encoder, "
        f"{settings['pair_train_size']} training records of {settings['pair_train_split']}"
        + (f"; full fine-tune: {settings['full_finetune_steps']} steps, lr {settings['full_finetune_learning_rate']}, "
           "encoder trained" if settings["full_finetune"] else "")
        + ". Wall time (all seeds, "
        f"all steps): " + ", ".join(f"{arm} {seconds[arm]:,.0f} s" for arm in seconds) + ".",
        "",
        "| metric | " + " | ".join([*arms, *references.values()]) + " |",
        "|---|" + "---|" * (len(arms) + len(references)),
    ]
    for metric, row in table.items():
        cells = [_cell(row[arm]) if arm in row else "" for arm in [*arms, *references]]
        lines.append(f"| {_label(metric)} | " + " | ".join(cells) + " |")
    for pair, metrics in results["comparisons"].items():
        first, second = pair.split("-")
        lines += [
            "",
            f"Paired comparison {first.upper()} − {second.upper()} (seeds paired; 95 % interval and p from a "
            "hierarchical bootstrap over units and seeds; p (seeds): exact sign-flip test over the per-seed "
            "differences, smallest attainable value in brackets):",
            "",
            "| metric | difference | 95 % interval | p (bootstrap) | p (seeds) | per-seed differences | units |",
            "|---|---|---|---|---|---|---|",
        ]
        for metric, c in metrics.items():
            lines.append(
                f"| {_label(metric)} | {c['difference']:+.4f} | [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | "
                f"{c['p_bootstrap']:.3f} | {c['p_sign_flip']:.3f} (≥ {c['p_sign_flip_min']:.3f}) | "
                f"{', '.join(f'{d:+.3f}' for d in c['per_seed_differences'])} | {c['units']} |"
            )
    return "\n".join(lines) + "\n"


def plot_curves(results: dict, path: Path) -> None:
    """Learning curves per arm against tokens: held-out loss (fixed masks), helix-strand recovery, helix − unpaired."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("heldout_loss", "held-out masked-LM loss (nats)"),
        ("helix_accuracy", "span probe: helix-strand recovery"),
        ("helix_minus_unpaired", "span probe: helix − unpaired"),
    )
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    colours = {"mlm": "tab:blue", "sm": "tab:orange", "ssm": "tab:green"}
    for axis, (key, title) in zip(axes, panels):
        for arm, by_seed in results["curves"].items():
            colour = colours.get(arm)
            for index, (seed, points) in enumerate(sorted(by_seed.items())):
                points = [p for p in points if p.get(key) is not None]
                if points:
                    axis.plot([p["tokens"] for p in points], [p[key] for p in points], color=colour, alpha=0.8,
                              marker="o", markersize=2, label=arm if index == 0 else None)  # fmt: skip
        if key == "heldout_loss":
            axis.axhline(math.log(4), color="grey", linestyle=":", label="ln 4")
            unigrams = [p["unigram"] for by_seed in results["curves"].values() for ps in by_seed.values() for p in ps if "unigram" in p]
            if unigrams:
                axis.axhline(float(np.mean(unigrams)), color="black", linestyle="--", label="unigram")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("pre-training tokens")
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
