"""A :class:`~transformers.Trainer` for SSR-LM masked-LM pre-training that logs what masking does.

:class:`MaskedLMTrainer` takes batches from :class:`~modeling_ssrlm.data.mlm_collator.DataCollatorForSSM`
(``input_ids``, ``labels``, ``masking_strategy`` and ``attention_mask`` or ``position_ids``). It
removes ``masking_strategy`` before the forward pass, leaves the loss to the model (transformers'
masked-LM loss) and, next to the Trainer's own ``loss``, logs:

* ``masked_accuracy`` over all masked positions, and per strategy ``masked_accuracy_sm``,
  ``masked_accuracy_ssm``, ``masked_accuracy_mlm`` (each only when that strategy masked something
  since the last log);
* ``masked_fraction``: masked positions / real tokens (the realised masking rate; real tokens
  include ``[CLS]`` and ``[EOS]``);
* ``tokens_per_second``: real (non-``[PAD]``) tokens trained on per second of wall time since the
  previous log, summed over processes (evaluation and checkpointing inside that window count);
* ``real_token_fraction``: real tokens / token slots in the batches (packing or padding efficiency).

The counts are summed over every micro-batch (so gradient accumulation is covered) and over all
processes (one ``reduce`` at log time, which the Trainer reaches on every rank) before dividing.
Evaluation adds the same accuracy metrics with the ``eval_`` prefix.

Loss: the model's, which the Trainer calls with ``num_items_in_batch``, the number of masked
positions in the whole optimizer step (all accumulated micro-batches, all processes): cross-entropy
summed over the masked positions and divided by it, so every masked token weighs the same however
tokens spread over micro-batches and ranks.
"""

from __future__ import annotations

import time

import torch
from transformers import Trainer
from transformers.trainer_utils import EvalLoopOutput

from ..data.mlm_collator import MASK_STRATEGY_IDS
from ..modeling_ssrlm import IGNORE_INDEX

__all__ = ["MaskedLMStatistics", "MaskedLMTrainer"]


class MaskedLMStatistics:
    """Running counts for the metrics of the module docstring, reduced over processes on read-out.

    Counts live in one tensor on the training device: correct and masked positions per strategy id
    (:data:`~modeling_ssrlm.data.mlm_collator.MASK_STRATEGY_IDS`), then real tokens and token slots.
    """

    def __init__(self) -> None:
        self._strategies = len(MASK_STRATEGY_IDS)
        self._counts: torch.Tensor | None = None

    def update(self, logits: torch.Tensor, labels: torch.Tensor, strategy: torch.Tensor, real: torch.Tensor) -> None:
        """Add one micro-batch: ``logits`` (B, T, V), ``labels``/``strategy``/``real`` (B, T)."""
        with torch.no_grad():
            masked = labels != IGNORE_INDEX
            correct = masked & (logits.argmax(dim=-1) == labels)
            counts = torch.cat(
                (
                    torch.bincount(strategy[correct], minlength=self._strategies),
                    torch.bincount(strategy[masked], minlength=self._strategies),
                    torch.stack((real.sum(), torch.tensor(real.numel(), device=real.device))),
                )
            )
            self._counts = counts if self._counts is None else self._counts + counts

    def summarize(self, trainer: Trainer, prefix: str = "") -> dict[str, float]:
        """Sum the counts over processes, reset them, and return the metrics (plus ``real_tokens``).

        A collective call: every process must make it, also one that saw no batch since the last call.
        """
        counts = self._counts
        if counts is None:
            counts = torch.zeros(2 * self._strategies + 2, dtype=torch.long, device=trainer.accelerator.device)
        counts = trainer.accelerator.reduce(counts, reduction="sum").double().cpu()
        self._counts = None
        if counts[-1] == 0:
            return {}
        correct, masked = counts[: self._strategies], counts[self._strategies : 2 * self._strategies]
        real_tokens, slots = counts[-2].item(), counts[-1].item()
        metrics = {}
        if masked.sum() > 0:
            metrics["masked_accuracy"] = (correct.sum() / masked.sum()).item()
        for name, index in MASK_STRATEGY_IDS.items():
            if index != MASK_STRATEGY_IDS["unmasked"] and masked[index] > 0:
                metrics[f"masked_accuracy_{name}"] = (correct[index] / masked[index]).item()
        if real_tokens > 0:
            metrics["masked_fraction"] = masked.sum().item() / real_tokens
            metrics["real_token_fraction"] = real_tokens / slots
        metrics["real_tokens"] = real_tokens
        return {f"{prefix}{key}": value for key, value in metrics.items()}


class MaskedLMTrainer(Trainer):
    """``Trainer`` for :class:`~modeling_ssrlm.SSRLMForMaskedLM` pre-training with masking metrics.

    Use it exactly like ``Trainer``; the data collator must emit ``masking_strategy`` and ``labels``.
    Pass ``remove_unused_columns=False`` when the dataset carries raw sequences and structures.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The model's loss divides by `num_items_in_batch`, so make the Trainer count it (and not rescale the
        # loss for gradient accumulation) whatever the model's forward signature says.
        self.model_accepts_loss_kwargs = True
        self._train_statistics = MaskedLMStatistics()
        self._eval_statistics = MaskedLMStatistics()
        self._last_log_time: float | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own masked-LM loss (``Trainer.compute_loss``), plus the masking statistics of the batch."""
        inputs = dict(inputs)
        strategy = inputs.pop("masking_strategy")
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        statistics = self._train_statistics if model.training else self._eval_statistics
        real = inputs["input_ids"] != self.model.config.pad_token_id
        statistics.update(outputs.logits.detach(), inputs["labels"], strategy, real)
        if self._last_log_time is None:
            self._last_log_time = time.perf_counter()
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the masking metrics and throughput to each periodic training log (``loss`` present)."""
        if "loss" in logs and self._last_log_time is not None:
            metrics = self._train_statistics.summarize(self)
            now = time.perf_counter()
            real_tokens = metrics.pop("real_tokens", 0.0)
            metrics["tokens_per_second"] = real_tokens / max(now - self._last_log_time, 1e-9)
            self._last_log_time = now
            logs = {**logs, **metrics}
        super().log(logs, start_time)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ) -> EvalLoopOutput:
        """Run the Trainer's loop, then add the masked accuracies of the evaluated batches."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        metrics = self._eval_statistics.summarize(self, prefix=f"{metric_key_prefix}_")
        metrics.pop(f"{metric_key_prefix}_real_tokens", None)
        output.metrics.update(metrics)
        return output
