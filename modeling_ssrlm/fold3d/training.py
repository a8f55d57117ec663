"""Training pipeline of the structure model (``fold3d.py train``).

:func:`build_model` makes a fresh :class:`SSRLMForStructurePrediction` (encoder from a folder, a
randomly initialised preset, or none); :func:`train_structure_model` fits it on the chain sets of
``data_scripts/build_3d_dataset.py`` with the Hugging Face ``Trainer``:

* inputs: 2D channels and floor frames computed once per whole chain (cached on disk), then cut
  to the same random crop as the coordinates each time a chain is read;
* validation: every ``eval_steps`` the mean C4' lDDT of the network on the whole validation
  chains, next to the floor's (the network's start); the weights of the best validation lDDT are
  kept (the untrained model, which outputs the floor, counts as step 0), so a run that never beats
  the floor on validation saves a model that outputs the floor;
* the weights after the last step are saved too, in ``last/`` (their pLDDT heads are trained even
  when the best validation lDDT is the untrained floor);
* a ``training_summary.json`` next to the weights records the settings, the validation curve,
  the chosen step and the wall time.

:func:`calibrate_floor_plddt` (``fold3d.py calibrate``) then fits the floor's calibrated confidence
(:mod:`~modeling_ssrlm.fold3d.confidence`) on the training chains and scores it on the validation
chains next to the floor pLDDT head.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .confidence import CALIBRATION_FEATURES, calibration_features, fit_calibration
from .data import StructureDataset, collate_structures, load_chains
from .features import compute_features_many, features_batch
from .geometry import DEFAULT_HELIX_EXTENSION
from .lddt import lddt
from .losses import plddt_bin_centers
from .modeling_fold3d import SSRLMForStructurePrediction
from .residue_constants import ATOM_INDEX

_C4 = "C4'"
_C4_SLOT = ATOM_INDEX[_C4]


@dataclass
class TrainSettings:
    """Everything ``fold3d.py train`` can set (see its ``--help``)."""

    encoder: str | None = None
    max_steps: int = 600
    batch_size: int = 2
    learning_rate: float = 1e-3
    warmup_steps: int = 20
    crop_length: int = 96
    single_dim: int = 64
    pair_dim: int = 32
    trunk_blocks: int = 2
    structure_iterations: int = 4
    recycles: int = 0
    attention_maps: bool = False
    secondary_structure: bool = True
    start_from_floor: bool = True
    floor_distances: bool = True
    source: str = "viennarna"
    floor_steps: int = 400
    floor_helix_extension: int = DEFAULT_HELIX_EXTENSION
    fape_clamp: float = 15.0
    smooth_lddt_weight: float = 1.0
    position_scale: float = 10.0
    eval_steps: int = 50
    seed: int = 0
    logging_steps: int = 10
    feature_cache: str | None = None
    extra: dict = field(default_factory=dict)


def build_model(settings: TrainSettings) -> SSRLMForStructurePrediction:
    """A fresh structure model; its encoder is loaded from ``settings.encoder`` (folder), built from a
    preset name (random weights), or left out (``None``/``"none"``: encoder-free)."""
    from ..configuration_ssrlm import PRESETS, SSRLMConfig
    from ..modeling_ssrlm import SSRLMModel
    from .configuration_fold3d import SSRLMStructureConfig

    encoder, encoder_config, use_encoder = None, SSRLMConfig.from_preset("ssrlm-8m"), True
    name = settings.encoder
    if name is None or name == "none":
        use_encoder = False
    elif Path(name).is_dir():
        encoder = SSRLMModel.from_pretrained(name)
        encoder_config = encoder.config
    elif name in PRESETS:
        encoder_config = SSRLMConfig.from_preset(name)
    else:
        raise ValueError(f"--encoder {name!r} is neither a folder, 'none', nor one of the presets {sorted(PRESETS)}")
    config = SSRLMStructureConfig(
        encoder_config=encoder_config.to_dict(), use_encoder=use_encoder, single_dim=settings.single_dim,
        pair_dim=settings.pair_dim, num_trunk_blocks=settings.trunk_blocks,
        num_structure_iterations=settings.structure_iterations, num_recycles=settings.recycles,
        use_attention_maps=settings.attention_maps, fape_clamp=settings.fape_clamp,
        use_secondary_structure=settings.secondary_structure, start_from_floor=settings.start_from_floor,
        use_floor_distances=settings.floor_distances and settings.start_from_floor,
        secondary_structure_source=settings.source, floor_steps=settings.floor_steps,
        floor_helix_extension=settings.floor_helix_extension,
        smooth_lddt_weight=settings.smooth_lddt_weight, position_scale=settings.position_scale,
    )
    model = SSRLMForStructurePrediction(config)
    if encoder is not None:
        model.model.load_state_dict(encoder.state_dict())
    return model


@torch.no_grad()
def validation_scores(model: SSRLMForStructurePrediction, chains, features) -> dict[str, float]:
    """Mean C4' lDDT of network and floor on whole chains, and Pearson r of mean pLDDT vs lDDT (each head)."""
    was_training = model.training
    model.eval()
    network, floor, plddt, floor_plddt = [], [], [], []
    for chain, feature in zip(chains, features):
        output = model(**{k: v.to(model.device) for k, v in features_batch([feature]).items()})
        reference, mask = chain.atom(_C4)
        c4 = output.positions[0, :, _C4_SLOT].float().cpu().numpy()
        network.append(lddt(c4, reference, mask))
        plddt.append(float(output.plddt[0].mean()))
        if output.floor_positions is not None:
            floor.append(lddt(output.floor_positions[0, :, _C4_SLOT].float().cpu().numpy(), reference, mask))
            floor_plddt.append(float(output.floor_plddt[0].mean()))
    model.train(was_training)
    scores = {"network_lddt": float(np.mean(network))}
    if floor:
        scores["floor_lddt"] = float(np.mean(floor))
        scores["improved_fraction"] = float(np.mean(np.array(network) > np.array(floor)))
    for name, x, y in (("pearson_r", plddt, network), ("floor_pearson_r", floor_plddt, floor)):
        if len(y) > 2 and np.ptp(x) > 0 and np.ptp(y) > 0:
            scores[name] = float(np.corrcoef(x, y)[0, 1])
    return scores


def train_structure_model(data_dir: Path, output_dir: Path, settings: TrainSettings,
                          command: str | None = None) -> dict:
    """Train, keep the weights of the best validation lDDT, save them with ``save_pretrained``."""
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    started = time.time()
    set_seed(settings.seed)
    model = build_model(settings)
    train_chains = load_chains(data_dir / "train.npz")
    valid_path = data_dir / "valid.npz"
    valid_chains = load_chains(valid_path) if valid_path.is_file() else []
    if not train_chains:
        raise ValueError(f"{data_dir / 'train.npz'} holds no chain")
    needs_features = model.config.use_secondary_structure or model.config.start_from_floor
    cache = settings.feature_cache or str(data_dir / "features")

    def features_of(chains):
        if not needs_features:
            return None
        return compute_features_many([c.sequence for c in chains], settings.source, settings.floor_steps, cache,
                                     settings.floor_helix_extension)

    train_features, valid_features = features_of(train_chains), features_of(valid_chains)
    feature_seconds = time.time() - started

    curve: list[dict] = []
    best = {"step": 0, "state": copy.deepcopy(model.state_dict()), "score": -1.0}

    def validate(step: int) -> None:
        if not valid_chains or valid_features is None:
            return
        scores = validation_scores(model, valid_chains, valid_features)
        curve.append({"step": step, **scores})
        print(f"step {step}: valid " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
        if scores["network_lddt"] > best["score"]:
            best.update(step=step, score=scores["network_lddt"], state=copy.deepcopy(model.state_dict()))

    class ValidationCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if settings.eval_steps and state.global_step % settings.eval_steps == 0:
                validate(state.global_step)

    validate(0)
    training_args = TrainingArguments(
        output_dir=str(output_dir), max_steps=settings.max_steps, per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, warmup_steps=settings.warmup_steps, lr_scheduler_type="cosine",
        weight_decay=0.01, max_grad_norm=1.0, logging_steps=settings.logging_steps, eval_strategy="no",
        save_strategy="no", report_to=[], remove_unused_columns=False, label_names=["coords", "atom_mask"],
        use_cpu=True, dataloader_num_workers=0, seed=settings.seed, disable_tqdm=True,
    )
    trainer = Trainer(
        model=model, args=training_args,
        train_dataset=StructureDataset(train_chains, train_features, crop_length=settings.crop_length,
                                       seed=settings.seed),
        data_collator=collate_structures, callbacks=[ValidationCallback()],
    )
    result = trainer.train()
    if not curve or curve[-1]["step"] != settings.max_steps:
        validate(settings.max_steps)
    model.save_pretrained(output_dir / "last")
    if valid_chains and valid_features is not None:
        model.load_state_dict(best["state"])
    model.save_pretrained(output_dir)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = {
        "command": command,
        "settings": asdict(settings),
        "train_chains": len(train_chains),
        "valid_chains": len(valid_chains),
        "trainable_parameters": trainable,
        "train_loss": result.training_loss,
        "log": [entry for entry in trainer.state.log_history if "loss" in entry],
        "validation": curve,
        "chosen_step": best["step"] if valid_chains else settings.max_steps,
        "feature_seconds": round(feature_seconds, 1),
        "wall_time_s": round(time.time() - started, 1),
        "threads": torch.get_num_threads(),
    }
    (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved to {output_dir} ({trainable:,} trainable parameters; weights of step {summary['chosen_step']}; "
          f"{summary['wall_time_s']:.0f} s)")
    return summary


def _floor_confidence_data(chains, features) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per chain: calibration features ``(L, 4)`` and the floor's per-residue C4' lDDT ``(L,)``."""
    inputs, targets = [], []
    for chain, feature in zip(chains, features):
        length = len(feature.sequence)
        x = calibration_features(torch.from_numpy(feature.probabilities)[None].double(),
                                 torch.from_numpy(feature.pairs)[None], torch.ones(1, length))[0]
        reference, mask = chain.atom(_C4)
        _, per_residue = lddt(feature.floor_translations, reference, mask, per_residue=True)
        inputs.append(x.numpy())
        targets.append(np.asarray(per_residue, np.float64))
    return inputs, targets


def calibrate_floor_plddt(model: SSRLMForStructurePrediction, data_dir: Path,
                          feature_cache: str | None = None) -> dict:
    """Fit ``model.config.floor_plddt_calibration`` on ``data_dir/train.npz``; score it on ``valid.npz``.

    The floor is deterministic, so its lDDT on the training chains is not fitted to them, and four
    coefficients cannot memorise chains. Returns the coefficients and, on the validation chains, the
    Pearson r of mean floor pLDDT vs floor lDDT and the mean absolute error of the mean pLDDT, for the
    floor pLDDT head (before) and the calibration (after); the model is changed in place.
    """
    config = model.config
    if not (config.start_from_floor and config.use_secondary_structure):
        raise ValueError("only a model that starts from the floor and reads the 2D can calibrate the floor's pLDDT")
    train_chains = load_chains(Path(data_dir) / "train.npz")
    valid_path = Path(data_dir) / "valid.npz"
    valid_chains = load_chains(valid_path) if valid_path.is_file() else []
    cache = feature_cache or str(Path(data_dir) / "features")

    def features_of(chains):
        return compute_features_many([c.sequence for c in chains], config.secondary_structure_source,
                                     config.floor_steps, cache, config.floor_helix_extension)

    train_features = features_of(train_chains)
    coefficients = fit_calibration(*_floor_confidence_data(train_chains, train_features))
    config.floor_plddt_calibration = coefficients
    report = {"features": list(CALIBRATION_FEATURES), "coefficients": coefficients,
              "train_chains": len(train_chains), "valid_chains": len(valid_chains)}
    if valid_chains:
        rows = confidence_rows(model, valid_chains, features_of(valid_chains))
        for label, confidence in (("head", "floor_head"), ("calibrated", "floor_plddt")):
            scores = confidence_scores(rows, confidence, "floor_lddt")
            report[label] = {key: scores[key] for key in ("pearson_r", "mean_absolute_error")}
    return report


@torch.no_grad()
def confidence_rows(model: SSRLMForStructurePrediction, chains, features) -> list[dict]:
    """One forward pass per whole chain: floor and network C4' lDDT and the chain means of every confidence —
    ``floor_plddt`` (the model's floor pLDDT: calibrated when the config has a calibration), ``floor_head``
    (the floor pLDDT head's expectation) and ``network_head`` (the network's pLDDT)."""
    model.eval()
    centers = plddt_bin_centers(model.config.num_plddt_bins, device=model.device)
    rows = []
    for chain, feature in zip(chains, features):
        output = model(**{k: v.to(model.device) for k, v in features_batch([feature]).items()})
        reference, mask = chain.atom(_C4)
        floor_head = (torch.softmax(output.floor_plddt_logits[0], dim=-1) * centers).sum(-1)
        rows.append({
            "target": chain.name, "length": len(chain.sequence),
            "floor_lddt": lddt(output.floor_positions[0, :, _C4_SLOT].float().cpu().numpy(), reference, mask),
            "network_lddt": lddt(output.positions[0, :, _C4_SLOT].float().cpu().numpy(), reference, mask),
            "floor_plddt": float(output.floor_plddt[0].mean()),
            "floor_head": float(floor_head.mean()),
            "network_head": float(output.plddt[0].mean()),
        })
    return rows


def confidence_scores(rows: list[dict], confidence: str, target: str) -> dict[str, float]:
    """Pearson r of the chain means ``rows[confidence]`` vs ``rows[target]`` (NaN for fewer than three chains
    or a constant side), the mean absolute error of the means, and both means."""
    x, y = np.array([r[confidence] for r in rows]), np.array([r[target] for r in rows])
    r = float(np.corrcoef(x, y)[0, 1]) if len(rows) > 2 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    return {"pearson_r": r, "mean_absolute_error": float(np.abs(x - y).mean()),
            "mean_plddt": float(x.mean()), "mean_lddt": float(y.mean())}
