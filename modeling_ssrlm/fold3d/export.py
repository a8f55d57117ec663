"""Write a released structure-model folder: weights, config, recipe, evaluation and a model card.

The card generator of ``model_cards/`` knows the sequence models only, so this module writes a
short card of its own, from recorded facts only: the config, ``training_summary.json`` of the run
(as ``recipe.json``) and an ``evaluation.json`` of ``fold3d.py evaluate`` (as ``eval.json``).
The folder carries no code: the structure model lives in the ``modeling_ssrlm.fold3d``
subpackage, which registers the ``ssrlm_structure`` model type when ``modeling_ssrlm`` is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

from .confidence import CALIBRATION_FEATURES
from .evaluation import method_table
from .modeling_fold3d import SSRLMForStructurePrediction

RECIPE_KEYS = ("command", "settings", "train_chains", "valid_chains", "trainable_parameters", "validation",
               "chosen_step", "wall_time_s", "threads", "floor_plddt_calibration")


def _evaluation_table(evaluation: dict) -> list[str]:
    lines = [
        f"Test set: {evaluation['targets']} CASP15 + RNA-Puzzles chains (16–256 nt), C4' lDDT (radius 15 Å), "
        f"2D from `{evaluation['secondary_structure_source']}`.",
        "",
        *method_table(evaluation),
    ]
    comparison = evaluation["network_minus_floor"]
    lines += ["", f"Network − floor: mean {comparison['mean']:+.3f} lDDT; the network is better on "
                  f"{comparison['improved']} of {evaluation['targets']} targets ({comparison['improved_fraction']:.0%})."]
    return lines


def _confidence_lines(config, recipe: dict | None) -> list[str]:
    """What the floor's pLDDT is, with the calibration's validation figures when the recipe has them."""
    if config.floor_plddt_calibration is None:
        return ["", "Floor pLDDT: the floor pLDDT head (an MLP on the structure module's single representation)."]
    bias, *weights = config.floor_plddt_calibration
    terms = f"{bias:.4f}" + "".join(f" {'−' if value < 0 else '+'} {abs(value):.4f}·{name}"
                                    for name, value in zip(CALIBRATION_FEATURES[1:], weights))
    lines = ["", "Floor pLDDT: a calibrated linear model of the 2D, clipped to [0, 1] (`fold3d.py calibrate`, "
                 f"`modeling_ssrlm.fold3d.confidence`): per residue {terms}, where paired is the decoded state, "
                 "state_probability the 2D source's probability of it and log_length the log of the chain length."]
    calibration = (recipe or {}).get("floor_plddt_calibration")
    if calibration and "calibrated" in calibration:
        head, fitted = calibration["head"], calibration["calibrated"]
        lines += ["", f"Fitted on the floor's per-residue C4' lDDT of {calibration['train_chains']} training chains; on "
                      f"{calibration['valid_chains']} validation chains, Pearson r of mean pLDDT vs floor lDDT "
                      f"{fitted['pearson_r']:.2f} (floor pLDDT head: {head['pearson_r']:.2f}), mean absolute error "
                      f"{fitted['mean_absolute_error']:.3f} ({head['mean_absolute_error']:.3f}). Command: "
                      f"`{calibration.get('command')}`."]
    return lines


def model_card(config, recipe: dict | None, evaluation: dict | None) -> str:
    """Markdown card (with Hub metadata) of a structure-model folder."""
    encoder = "a frozen SSR-LM encoder" if config.use_encoder else "no language-model encoder (learned nucleotide embeddings)"
    lines = [
        "---",
        "license: apache-2.0",
        "library_name: transformers",
        "tags:", "- biology", "- rna", "- rna-3d-structure", "- ssr-lm",
        "---",
        "",
        "# ssrlm-fold3d",
        "",
        "RNA 3D structure model of `ssrlm`: the secondary structure of each sequence "
        f"(`{config.secondary_structure_source}`: pair probabilities and decoded pairs) is an input, the A-form "
        "floor built on it (ideal right-handed A-form helices"
        + (f", each grown by up to {config.floor_helix_extension} stacked pair(s) at both ends into unpaired bases"
           if config.floor_helix_extension else "")
        + ", loops placed by distance restraints) is the start, "
        f"and an IPA structure module ({config.num_structure_iterations} iterations, {config.num_trunk_blocks} "
        f"trunk blocks, single/pair {config.single_dim}/{config.pair_dim}, {encoder}) predicts updates to its "
        "frames. Heads: C4'-C4' distogram, pLDDT of the network and pLDDT of the floor.",
        "",
        f"Default mode of `ssrlm fold3d` with this folder: **{config.default_mode}**.",
        "",
        "## Use",
        "",
        "```bash",
        "ssrlm fold3d examples/example.fa --out pdb/                 # this folder is the default model",
        "ssrlm fold3d examples/example.fa --mode floor --out floor/  # the floor, with the floor's pLDDT",
        "ssrlm fold3d structures.dbn --input-2d --out pdb/           # on your own dot-bracket structures",
        "```",
        "",
        "```python",
        "import modeling_ssrlm  # registers the model type",
        "from modeling_ssrlm.fold3d import SSRLMForStructurePrediction",
        "model = SSRLMForStructurePrediction.from_pretrained('models/ssrlm-fold3d')",
        "[output] = model.fold(['GGGGAAACCCCAUAUGGGGAAACCCC'])  # positions (1, L, 13, 3) Å, plddt (1, L)",
        "```",
        "",
        "The folder carries no code (the model lives in the `modeling_ssrlm.fold3d` subpackage); ViennaRNA "
        "(`pip install viennarna`) computes the 2D input. PDB files carry the pLDDT (0–100) in the B-factor column.",
    ]
    if recipe:
        settings = recipe.get("settings", {})
        lines += [
            "",
            "## Training",
            "",
            f"- chains: {recipe.get('train_chains')} training, {recipe.get('valid_chains')} validation "
            "(shared-data natives with every chain ≥ 80 % identical to a test chain removed; MMseqs2)",
            f"- steps: {settings.get('max_steps')} × batch {settings.get('batch_size')}, crops of "
            f"{settings.get('crop_length')} nt, learning rate {settings.get('learning_rate')}, FAPE clamp "
            f"{settings.get('fape_clamp')} Å, smooth-lDDT weight {settings.get('smooth_lddt_weight')}",
            f"- weights: {recipe.get('weights')}",
            f"- trainable parameters: {recipe.get('trainable_parameters'):,}",
            f"- wall time: {recipe.get('wall_time_s')} s on {recipe.get('threads')} CPU thread(s)",
            f"- command: `{recipe.get('command')}`",
        ]
        curve = recipe.get("validation") or []
        if curve and "floor_lddt" in curve[0]:
            best = max(curve, key=lambda entry: entry["network_lddt"])
            lines += [
                "",
                f"Validation ({recipe.get('valid_chains')} chains, C4' lDDT): floor {curve[0]['floor_lddt']:.3f}; "
                f"network {curve[-1]['network_lddt']:.3f} after the last step, at best {best['network_lddt']:.3f} "
                f"(step {best['step']}).",
            ]
    if config.default_mode == "floor":
        lines += ["", "The network did not beat the floor on validation, so `ssrlm fold3d` writes the floor by "
                      "default (with the floor's pLDDT); `--mode network` gives the network's output."]
    lines += _confidence_lines(config, recipe)
    if evaluation:
        lines += ["", "## Evaluation", "", *_evaluation_table(evaluation)]
        if evaluation.get("command"):
            lines += ["", f"Command: `{evaluation['command']}`"]
    lines += [
        "",
        "## Limitations",
        "",
        "Trained on a few dozen chains on a CPU: the network learns small corrections of the floor, not RNA "
        "folding. Quality follows the 2D input; tertiary contacts, pseudoknots and multi-chain complexes are "
        "beyond it. TM-scores are biotite's (protein d0, C4' as pseudo-CA, RMSD superposition).",
        "",
    ]
    return "\n".join(lines)


def training_recipe(model_dir: Path) -> dict | None:
    """The recipe of a trained folder: its ``training_summary.json`` (or, for ``<run>/last``, the run's)
    cut to :data:`RECIPE_KEYS`, with ``weights`` saying which weights these are; None without a summary."""
    model_dir = Path(model_dir)
    is_last = model_dir.name == "last" and not (model_dir / "training_summary.json").is_file()
    summary_path = (model_dir.parent if is_last else model_dir) / "training_summary.json"
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    recipe = {key: summary[key] for key in RECIPE_KEYS if key in summary}
    recipe["weights"] = summary.get("weights") or (
        "after the last step" if is_last else f"of step {summary.get('chosen_step')} (best validation C4' lDDT)")
    return recipe


def export_model(model_dir: Path, out: Path, evaluation: Path | None = None, default_mode: str = "network") -> None:
    """Save the model of ``model_dir`` into ``out`` with ``default_mode``, ``recipe.json``, ``eval.json``, ``README.md``."""
    model = SSRLMForStructurePrediction.from_pretrained(model_dir)
    model.config.default_mode = default_mode
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    recipe = training_recipe(model_dir)
    if recipe is not None:
        (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    evaluation_data = None
    if evaluation is not None:
        evaluation_data = json.loads(Path(evaluation).read_text())
        (out / "eval.json").write_text(json.dumps(evaluation_data, indent=2) + "\n")
    (out / "README.md").write_text(model_card(model.config, recipe, evaluation_data))
