"""`evaluate` metric: base-pair precision, recall and F1 of RNA secondary structures.

A thin wrapper around :func:`modeling_ssrlm.evaluation.metrics.pair_scores`, loadable offline from this
folder::

    import evaluate
    metric = evaluate.load("metrics/rna_ss_pairs")  # a local path, no hub access
    metric.compute(predictions=[[[0, 9], [1, 8]]], references=[[[0, 9], [1, 8], [2, 7]]], shift=0)
"""

import datasets
import evaluate
import numpy as np

from modeling_ssrlm.evaluation.metrics import pair_scores

_DESCRIPTION = """\
Precision, recall and F1 of predicted RNA base pairs against reference base pairs, averaged over
sequences (each sequence scored on its own, then the mean taken). Both structures empty scores 1.0;
otherwise a 0/0 ratio scores 0.0. With shift=1 a predicted pair (i, j) also counts as correct when
the reference holds (i±1, j) or (i, j±1) (the bpRNA / SPOT-RNA / MXfold2 convention).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: one list of predicted pairs per sequence; a pair is [i, j], 0-based.
    references: one list of reference pairs per sequence, same format.
    shift: 0 (strict, default) or a positive tolerance, see the description.
Returns:
    precision, recall, f1: per-sequence means (floats).
Example:
    >>> metric = evaluate.load("metrics/rna_ss_pairs")
    >>> metric.compute(predictions=[[[0, 9], [1, 8], [2, 7]]], references=[[[0, 9], [1, 8], [3, 6]]])
    {'precision': 0.6666666666666666, 'recall': 0.6666666666666666, 'f1': 0.6666666666666666}
"""

_CITATION = """\
@article{mathews2004incorporating,
  title={Incorporating chemical modification constraints into a dynamic programming algorithm
         for prediction of RNA secondary structure},
  author={Mathews, David H and others},
  journal={Proceedings of the National Academy of Sciences},
  volume={101}, number={19}, pages={7287--7292}, year={2004}
}
"""

_PAIRS = datasets.Sequence(datasets.Sequence(datasets.Value("int64")))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RnaSsPairs(evaluate.Metric):
    """Per-sequence mean base-pair precision, recall and F1."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _PAIRS, "references": _PAIRS}),
        )

    def _compute(self, predictions, references, shift: int = 0) -> dict[str, float]:
        scores = [pair_scores(pred, ref, shift=shift) for pred, ref in zip(predictions, references)]
        return {name: float(np.mean([s[name] for s in scores])) for name in ("precision", "recall", "f1")}
