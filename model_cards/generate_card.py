#!/usr/bin/env python
"""Generate the Hugging Face model card (README.md) of a saved SSR-LM model folder.

The card is built only from recorded facts, so that every number in it can be traced to a file:

* the folder's ``config.json`` (architecture, sizes, decision settings of pair models) and the
  safetensors headers (exact parameter count and dtypes; no weights are loaded);
* a *recipe* JSON: a free-form record of how the model was trained, written by a training script
  or by hand. Known fields (``task``, ``masking``, ``preset``, ``base_model``, ``datasets``,
  ``corpus_summary``, ``steps``, ``epochs``, ``tokens``, ``batch``, ``learning_rate``, ``seed``,
  ``hardware``, ``wall_time_s``, ``command``) get readable labels; any other field is listed
  verbatim; absent fields are left out, never filled in;
* zero or more evaluation JSON files written by ``benchmarks/eval_ss.py`` (per split, per method:
  ``precision``, ``recall``, ``f1`` (strict), ``f1_shift1`` (±1 shift-tolerant), ``auprc``, …).
  Whatever subset of splits, methods and these metrics is present is tabulated.

``MODEL_DIR/recipe.json`` and ``MODEL_DIR/eval.json`` are used when present and no file is given
on the command line. The output is deterministic: the same inputs give the same card, byte for byte.

Example::

    python model_cards/generate_card.py models/ssrlm-8m-ss --recipe runs/ss-bprna/recipe.json \\
        --eval runs/eval-bprna/eval.json --base-model USER/ssrlm-8m
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml
from safetensors import SafetensorError, safe_open

TEMPLATE_FILE = Path(__file__).with_name("template.md.j2")
DEFAULT_LICENSE = "apache-2.0"
PAPER_TITLE = "Structure-Aware Pre-trained LM Can Improve RNA Secondary Structure Prediction"
COMMON_TAGS = ("biology", "rna", "rna-language-model", "ssr-lm", "secondary-structure")
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"


class CardError(ValueError):
    """An input of the card generator is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Architecture:
    """What the card says about one model class: use and loading sections, Hub tags, how it loads."""

    kind: str  # "mlm", "encoder" or "pair": selects the card's use and loading sections
    pipeline_tag: str
    tags: tuple[str, ...]
    loader: str  # "module.Class" whose from_pretrained the card shows (and push_to_hub.py checks)
    description: str

    @property
    def loader_module(self) -> str:
        return self.loader.rsplit(".", 1)[0]

    @property
    def loader_class(self) -> str:
        return self.loader.rsplit(".", 1)[1]


_PAIR_TAGS = ("rna-secondary-structure-prediction", "base-pairing")
ARCHITECTURES: dict[str, Architecture] = {
    "SSRLMForMaskedLM": Architecture(
        "mlm", "fill-mask", ("masked-language-modeling",), "transformers.AutoModelForMaskedLM",
        "an SSR-LM encoder with its masked-language-model head",
    ),
    "SSRLMModel": Architecture(
        "encoder", "feature-extraction", ("feature-extraction",), "transformers.AutoModel",
        "a bare SSR-LM encoder (no head)",
    ),
    # The Hub has no pipeline tag for L × L outputs; ``token-classification`` is the closest (a
    # pairing decision per nucleotide). See model_cards/README.md.
    "SSRLMForPairPrediction": Architecture(
        "pair", "token-classification", _PAIR_TAGS, "modeling_ssrlm.modeling_ssrlm_pair.SSRLMForPairPrediction",
        "an SSR-LM encoder with a supervised base-pair head (pair features and a 2D ResNet giving L × L pair logits)",
    ),
    "SSRLMForContactRegression": Architecture(
        "pair", "token-classification", _PAIR_TAGS, "modeling_ssrlm.modeling_ssrlm_contact.SSRLMForContactRegression",
        "a frozen SSR-LM encoder with a logistic regression over its attention maps (unsupervised base pairs)",
    ),
}

#: Recipe fields with a label, in the order the card lists them (``command`` is shown as a code block).
RECIPE_LABELS: dict[str, str] = {
    "task": "Task",
    "preset": "Preset",
    "base_model": "Initialised from",
    "masking": "Masking",
    "datasets": "Datasets",
    "corpus_summary": "Corpus",
    "steps": "Optimizer steps",
    "epochs": "Epochs",
    "tokens": "Training tokens",
    "batch": "Batch",
    "learning_rate": "Learning rate",
    "seed": "Seed",
    "hardware": "Hardware",
    "wall_time_s": "Wall time",
}
MASKING_NAMES = {
    "ssm": "SSM: secondary-structure-aware span masking (whole helix strands) of ncRNA, mixed with span masking",
    "sm": "SM: span masking only",
    "mlm": "MLM: plain random token masking",
}

#: Headline metrics of an evaluation file, in table order; ``F1 (strict)`` is the paper's headline.
EVAL_COLUMNS: dict[str, str] = {
    "n_sequences": "Sequences",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 (strict)",
    "f1_shift1": "F1 (±1 shift)",
    "auprc": "AUPRC",
    "precision_at_l": "P@L",
}


@dataclass(frozen=True)
class ModelFacts:
    """What the card reads from a model folder."""

    name: str
    architecture: str
    config: dict[str, Any]
    num_parameters: int
    dtypes: tuple[str, ...]
    weight_files: tuple[str, ...]


@dataclass(frozen=True)
class EvalTable:
    """One evaluation file as a table (column labels, one row per split and method) and its settings."""

    source: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    model_class: str | None = None
    threshold: float | None = None
    limit: int | None = None


# --------------------------------------------------------------------------- reading inputs


def load_json(path: str | Path, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``; :class:`CardError` names ``what`` and the file when it cannot."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CardError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise CardError(f"{what} {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise CardError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a folder: ``model.safetensors`` or the shards named by its index."""
    if (model_dir / WEIGHTS_FILE).is_file():
        return [model_dir / WEIGHTS_FILE]
    if (model_dir / WEIGHTS_INDEX_FILE).is_file():
        index = load_json(model_dir / WEIGHTS_INDEX_FILE, "weights index")
        shards = sorted(set((index.get("weight_map") or {}).values()))
        missing = [name for name in shards if not (model_dir / name).is_file()]
        if not shards or missing:
            raise CardError(f"{model_dir / WEIGHTS_INDEX_FILE} names missing shards: {missing or 'none listed'}")
        return [model_dir / name for name in shards]
    raise CardError(f"{model_dir} has no {WEIGHTS_FILE} (or {WEIGHTS_INDEX_FILE}): not a saved model folder")


def count_parameters(model_dir: Path) -> tuple[int, tuple[str, ...]]:
    """Return (number of stored parameters, sorted dtypes) from the safetensors headers only.

    Tied weights are stored once by ``save_pretrained`` and so are counted once.
    """
    total, dtypes = 0, set()
    for path in weight_files(model_dir):
        try:
            with safe_open(str(path), framework="numpy") as handle:
                for key in handle.keys():
                    tensor = handle.get_slice(key)
                    total += math.prod(tensor.get_shape())
                    dtypes.add(str(tensor.get_dtype()))
        except (SafetensorError, OSError) as error:
            raise CardError(f"cannot read the safetensors header of {path}: {error}") from None
    return total, tuple(sorted(dtypes))


def read_model_facts(model_dir: str | Path) -> ModelFacts:
    """Read the architecture, configuration and parameter count of a saved model folder."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise CardError(f"{model_dir} is not a model folder: it has no config.json")
    config = load_json(model_dir / "config.json", "model config")
    architectures = config.get("architectures") or []
    known = [arch for arch in architectures if arch in ARCHITECTURES]
    if config.get("model_type") != "ssrlm" or not known:
        raise CardError(
            f"{model_dir / 'config.json'} is not an SSR-LM model (model_type {config.get('model_type')!r}, "
            f"architectures {architectures}); expected one of {sorted(ARCHITECTURES)}"
        )
    num_parameters, dtypes = count_parameters(model_dir)
    return ModelFacts(
        name=model_dir.resolve().name,
        architecture=known[0],
        config=config,
        num_parameters=num_parameters,
        dtypes=dtypes,
        weight_files=tuple(path.name for path in weight_files(model_dir)),
    )


def read_eval_table(path: str | Path) -> EvalTable:
    """Tabulate an ``eval_ss.py`` report: one row per split and method, the headline metrics present.

    Raises :class:`CardError` when the file has no ``splits`` or none of the metrics in :data:`EVAL_COLUMNS`.
    """
    report = load_json(path, "evaluation file")
    splits = report.get("splits")
    if not isinstance(splits, dict) or not splits:
        raise CardError(f"evaluation file {path} has no 'splits' object (expected benchmarks/eval_ss.py output)")
    entries = [
        (split, method, scores)
        for split, methods in splits.items()
        if isinstance(methods, dict)
        for method, scores in methods.items()
        if isinstance(scores, dict)
    ]
    keys = [key for key in EVAL_COLUMNS if any(key in scores for _, _, scores in entries)]
    if not any(key != "n_sequences" for key in keys):
        raise CardError(f"evaluation file {path} holds none of the metrics {sorted(EVAL_COLUMNS)}")
    rows = [
        [markdown_cell(str(split)), markdown_cell(str(method))] + [format_metric(scores.get(key)) for key in keys]
        for split, method, scores in entries
    ]
    return EvalTable(
        source=Path(path).name,
        caption=eval_caption(report),
        columns=["Dataset", "Method"] + [EVAL_COLUMNS[key] for key in keys],
        rows=rows,
        model_class=report.get("model_class"),
        threshold=report.get("threshold"),
        limit=report.get("limit"),
    )


def eval_caption(report: dict[str, Any]) -> str:
    """One sentence on what was evaluated and how, from the report's metadata (what is present)."""
    parts = []
    if report.get("model_class") or report.get("model"):
        what = f"`{report['model_class']}`" if report.get("model_class") else "the model"
        parts.append(what + (f" from `{report['model']}`" if report.get("model") else ""))
    if report.get("threshold") is not None:
        parts.append(f"decision threshold {format_value(report['threshold'])}")
    if "postprocessing" in report:
        parts.append(f"post-processing: {format_value(report['postprocessing'])}")
    if report.get("limit") is not None:
        parts.append(f"**only the first {format_value(report['limit'])} sequences of each split**")
    return "; ".join(parts)


# --------------------------------------------------------------------------- formatting


def format_metric(value: Any) -> str:
    """Metrics with three decimals (as ``eval_ss.py`` prints them), counts as integers, gaps as ``—``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def format_value(value: Any) -> str:
    """Render a recipe value verbatim and readably: integers with thousands separators, lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {format_value(item)}" for key, item in value.items())
    return str(value)


def format_recipe_value(key: str, value: Any) -> str:
    """Like :func:`format_value`, with units for ``wall_time_s`` and names for ``masking`` modes."""
    if key == "wall_time_s" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{format_value(value)} s ({value / 3600:.2f} h)"
    if key == "masking" and isinstance(value, str):
        return MASKING_NAMES.get(value.lower(), value)
    return format_value(value)


def human_count(count: int) -> str:
    """``10912`` → ``10.9 K``, ``7969824`` → ``7.97 M``."""
    for scale, suffix, digits in ((1e9, "B", 2), (1e6, "M", 2), (1e3, "K", 1)):
        if count >= scale:
            return f"{count / scale:.{digits}f} {suffix}"
    return str(count)


def markdown_cell(text: str) -> str:
    """Escape a value for a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- card


def as_list(value: Any) -> list[str]:
    """A recipe's ``datasets`` (string or list) as a list of strings."""
    if value is None:
        return []
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def front_matter(facts: ModelFacts, recipe: dict[str, Any], base_model: str | None, license: str) -> str:
    """The Hub's YAML metadata block, keys in a fixed order; unknown facts are left out."""
    architecture = ARCHITECTURES[facts.architecture]
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": architecture.pipeline_tag,
        "license": license,
        "tags": list(COMMON_TAGS + architecture.tags),
    }
    datasets = as_list(recipe.get("datasets"))
    if datasets:
        metadata["datasets"] = datasets
    if base_model:
        metadata["base_model"] = base_model
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True) + "---\n"


def _noncanonical_pass(threshold: float, config: dict) -> str:
    """The decoder row's words for the non-canonical pass (``pair_noncanonical_*``)."""
    if config.get("pair_noncanonical_placement", "anywhere") == "stacked":
        return f", then non-canonical pairs above {threshold} that stack on a decoded pair (helix ends, 1×1 loops)"
    return f", then non-canonical pairs above {threshold}"


def model_details(facts: ModelFacts) -> list[tuple[str, str]]:
    """(label, value) rows describing the architecture, from ``config.json`` and the weights."""
    config = facts.config
    count = f"{facts.num_parameters:,} ({human_count(facts.num_parameters)})"
    heads = f"{config.get('num_attention_heads')} ({config.get('num_key_value_heads')})"
    row_length = format_value(config.get("max_position_embeddings"))
    rows = [
        ("Class", f"`{facts.architecture}`"),
        ("Parameters", f"{count}, counted from the safetensors header"),
        ("Weights", f"{', '.join(facts.weight_files)} ({', '.join(facts.dtypes)})"),
        ("Layers", format_value(config.get("num_hidden_layers"))),
        ("Hidden size", format_value(config.get("hidden_size"))),
        ("Attention heads (key/value heads)", heads),
        ("Feed-forward (SwiGLU) size", format_value(config.get("intermediate_size"))),
        ("Vocabulary", f"{config.get('vocab_size')} tokens: A, C, G, T (U is read as T) and 5 special tokens"),
        ("Pre-training row length", f"{row_length} tokens (rotary positions, no hard limit)"),
    ]
    if ARCHITECTURES[facts.architecture].kind == "pair":
        rows.append(("Decision threshold", format_value(config.get("pair_threshold"))))
        decoder = config.get("pair_decoder", "threshold")
        if decoder != "threshold":
            extra = "crossing pairs (pseudoknots)" if config.get("pair_decoder_extra_pairs", "crossing") == "crossing" else "any pairs"
            noncanonical = config.get("pair_noncanonical_threshold")
            rows.append((
                "Decoder",
                f"`{decoder}`: ViennaRNA {decoder.removeprefix('vienna_').upper()} structure with the probabilities as "
                f"soft constraints, then {extra} above the decision threshold"
                + (_noncanonical_pass(noncanonical, config) if noncanonical is not None else ""),
            ))
        if config.get("pair_postprocess"):
            rule = "canonical pairs only (AU, GC, GU); " if config.get("pair_canonical_only") else ""
            if rule and decoder != "threshold" and noncanonical is not None:
                rule = "canonical pairs only (AU, GC, GU) but for the non-canonical pass; "
            rows.append((
                "Post-processing",
                f"{rule}pairs with j − i > {config.get('pair_min_loop_length')}; "
                f"one partner per base ({config.get('pair_matching')} matching)",
            ))
        else:
            rows.append(("Post-processing", "off (thresholded probabilities only)"))
    if facts.architecture == "SSRLMForPairPrediction":
        rows.append((
            "Pair head",
            f"{config.get('pair_hidden_channels')} channels, {config.get('pair_num_blocks')} residual blocks, "
            f"kernel {config.get('pair_kernel_size')}, dilations {format_value(config.get('pair_dilations'))}, "
            f"{config.get('pair_norm')} norm",
        ))
    if config.get("transformers_version"):
        rows.append(("Saved with", f"transformers {config['transformers_version']}"))
    return [(label, markdown_cell(value)) for label, value in rows]


def recipe_rows(recipe: dict[str, Any], base_model: str | None) -> list[tuple[str, str]]:
    """(label, value) rows of the recipe: labelled fields first, then any other field by its key."""
    values = dict(recipe)
    values.pop("command", None)
    values.pop("limitations", None)  # rendered with the card's limitations
    if base_model:
        values["base_model"] = base_model
    rows = [(label, format_recipe_value(key, values.pop(key))) for key, label in RECIPE_LABELS.items() if key in values]
    rows += [(f"`{key}`", format_value(value)) for key, value in values.items()]
    return [(label, markdown_cell(value)) for label, value in rows]


def limitation_notes(facts: ModelFacts, recipe: dict[str, Any], tables: Sequence[EvalTable]) -> list[str]:
    """Limitations that follow from this model's own facts (the template adds the general ones)."""
    notes = list(recipe.get("limitations", []))
    if facts.num_parameters < 100_000_000:
        notes.append(
            f"At {human_count(facts.num_parameters)} parameters this model is far smaller than the paper's "
            "650M model; its scores are not comparable to the paper's headline results."
        )
    hardware = str(recipe.get("hardware", ""))
    if "cpu" in hardware.lower() and "gpu" not in hardware.lower():
        notes.append(f"It was trained on CPU ({hardware}), with a correspondingly small compute budget.")
    for table in tables:
        if table.limit is not None:
            notes.append(f"`{table.source}` covers only the first {format_value(table.limit)} sequences of each split.")
        threshold = facts.config.get("pair_threshold")
        if table.model_class == facts.architecture and table.threshold not in (None, threshold):
            notes.append(
                f"`{table.source}` was computed at decision threshold {table.threshold}, but this folder's config "
                f"has {threshold}: its thresholded scores may differ from this model's."
            )
    return notes


def remote_code_entry(facts: ModelFacts) -> tuple[str, str] | tuple[None, None]:
    """The ``auto_map`` entry (Auto class, ``module.Class``) of this architecture, for loading without the package."""
    for auto_class, target in (facts.config.get("auto_map") or {}).items():
        if str(target).endswith("." + facts.architecture):
            return auto_class, str(target)
    return None, None


def render_card(
    model_dir: str | Path,
    recipe: dict[str, Any] | None = None,
    eval_paths: Sequence[str | Path] = (),
    base_model: str | None = None,
    license: str = DEFAULT_LICENSE,
    repo_id: str | None = None,
) -> str:
    """Return the model card (markdown with YAML front matter) of ``model_dir``.

    ``base_model`` overrides the recipe's ``base_model``; ``repo_id`` (``USER/NAME``) names the model in
    the title and the loading examples (default: the folder's name).
    """
    recipe = recipe or {}
    base_model = base_model or recipe.get("base_model")
    facts = read_model_facts(model_dir)
    tables = [read_eval_table(path) for path in eval_paths]
    architecture = ARCHITECTURES[facts.architecture]
    remote_code_class, remote_code_target = remote_code_entry(facts)
    template = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_FILE.parent)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    ).get_template(TEMPLATE_FILE.name)
    body = template.render(
        repo=repo_id or facts.name,
        local_dir=(repo_id or facts.name).rsplit("/", 1)[-1],
        from_hub=repo_id is not None,
        facts=facts,
        kind=architecture.kind,
        loader_module=architecture.loader_module,
        loader_class=architecture.loader_class,
        description=architecture.description,
        remote_code_class=remote_code_class,
        remote_code_target=remote_code_target,
        details=model_details(facts),
        recipe=recipe_rows(recipe, base_model),
        command=recipe.get("command"),
        tables=tables,
        notes=limitation_notes(facts, recipe, tables),
        paper_title=PAPER_TITLE,
    )
    return front_matter(facts, recipe, base_model, license) + "\n" + body


def write_card(
    model_dir: str | Path,
    out: str | Path | None = None,
    recipe_path: str | Path | None = None,
    eval_paths: Sequence[str | Path] | None = None,
    base_model: str | None = None,
    license: str = DEFAULT_LICENSE,
    repo_id: str | None = None,
) -> Path:
    """Render the card of ``model_dir`` and write it to ``out`` (default ``model_dir/README.md``).

    Without ``recipe_path`` / ``eval_paths``, ``model_dir/recipe.json`` / ``model_dir/eval.json`` are
    used when they exist. Returns the path written.
    """
    model_dir = Path(model_dir)
    if recipe_path is None and (model_dir / "recipe.json").is_file():
        recipe_path = model_dir / "recipe.json"
    if eval_paths is None:
        eval_paths = [model_dir / "eval.json"] if (model_dir / "eval.json").is_file() else []
    recipe = load_json(recipe_path, "recipe") if recipe_path is not None else {}
    card = render_card(model_dir, recipe, eval_paths, base_model=base_model, license=license, repo_id=repo_id)
    out = Path(out) if out else model_dir / "README.md"
    out.write_text(card, encoding="utf-8")
    return out


def add_card_arguments(parser: argparse.ArgumentParser) -> None:
    """The card options, shared with ``scripts/push_to_hub.py``."""
    parser.add_argument("--recipe", default=None, help="Training record (JSON); default MODEL_DIR/recipe.json if any.")
    parser.add_argument("--eval", nargs="+", default=None, dest="eval_paths", metavar="EVAL_JSON",
                        help="benchmarks/eval_ss.py output(s). Default: MODEL_DIR/eval.json if present.")
    parser.add_argument("--base-model", default=None, help="Hub id of the model this one was fine-tuned from.")
    parser.add_argument("--license", default=DEFAULT_LICENSE, help=f"Hub license id (default {DEFAULT_LICENSE}).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", help="A folder written by save_pretrained.")
    parser.add_argument("--out", default=None, help="Where to write the card (default MODEL_DIR/README.md).")
    parser.add_argument("--repo-id", default=None, help="USER/NAME used in the title and loading examples.")
    add_card_arguments(parser)
    args = parser.parse_args(argv)
    try:
        path = write_card(args.model_dir, args.out, args.recipe, args.eval_paths,
                          base_model=args.base_model, license=args.license, repo_id=args.repo_id)
    except (CardError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
