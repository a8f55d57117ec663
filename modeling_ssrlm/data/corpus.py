"""Loading the pre-training corpus and mixing ncRNA with non-ncRNA 1:1 (METHOD.md §2-3).

The corpus is the folder of parquet shards written by ``data_scripts/prepare_pretraining.py``, one
row per sequence with the columns of :data:`CORPUS_COLUMNS`. :func:`mix_ncrna` interleaves its ncRNA
and non-ncRNA rows so that batches hold both kinds in the paper's ratio; the masking itself (SSM
for ncRNA with a structure, SM otherwise) is decided per sample by
:class:`~modeling_ssrlm.data.mlm_collator.DataCollatorForSSM`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import datasets
import numpy as np

__all__ = ["CORPUS_COLUMNS", "load_pretraining_corpus", "mix_ncrna"]

logger = logging.getLogger(__name__)

#: Columns every corpus shard must have.
CORPUS_COLUMNS = ("id", "sequence", "structure", "is_ncrna", "source")


def load_pretraining_corpus(dataset_dir: str | os.PathLike, cache_dir: str | None = None) -> datasets.Dataset:
    """Load the parquet shards of a corpus folder, in sorted path order.

    ``dataset_dir`` is either the output folder of ``prepare_pretraining.py`` (its shards live in
    ``train/``; ``plan.parquet`` beside them is bookkeeping, not data) or any folder of shards, read
    recursively. Files whose name starts with ``.`` or ``_`` (temporary or metadata files) are skipped. The
    shards are converted once into the ``datasets`` Arrow cache (``cache_dir``, default the
    ``datasets`` cache) and memory-mapped from there, so the corpus need not fit in memory.
    Raises ``FileNotFoundError`` when there is no shard and ``ValueError`` naming the missing
    columns when the shards lack any of :data:`CORPUS_COLUMNS`.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"pre-training corpus directory {root} does not exist")
    if (root / "plan.parquet").is_file() and (root / "train").is_dir():
        root = root / "train"
    shards = sorted(
        path for path in root.rglob("*.parquet") if not path.name.startswith((".", "_")) and path.is_file()
    )
    if not shards:
        raise FileNotFoundError(f"no parquet shards (*.parquet) under {root}")
    corpus = datasets.Dataset.from_parquet([str(path) for path in shards], cache_dir=cache_dir)
    missing = [column for column in CORPUS_COLUMNS if column not in corpus.column_names]
    if missing:
        raise ValueError(f"the shards under {root} lack the column(s) {missing}; expected {list(CORPUS_COLUMNS)}")
    return corpus


def mix_ncrna(dataset: datasets.Dataset, ncrna_fraction: float = 0.5, seed: int = 0) -> datasets.Dataset:
    """Interleave the ncRNA and non-ncRNA rows of ``dataset`` so ncRNA make up ``ncrna_fraction``.

    At 0.5 the rows alternate exactly (ncRNA, non-ncRNA, ncRNA, ...), so every window of ``2k``
    consecutive rows holds ``k`` ncRNA; other fractions draw the subset of each row at random with
    ``seed``. Both use :func:`datasets.interleave_datasets` with ``stopping_strategy="all_exhausted"``:
    the smaller subset is repeated until every row of the larger one has been used once. The order
    within each subset is kept, so shuffle ``dataset`` first if it is sorted. (A ``Trainer`` with its
    default random sampler reshuffles the rows, so the ratio then holds per batch on average.)

    When one subset is empty, the other is returned as is with a warning.
    """
    if not 0.0 < ncrna_fraction < 1.0:
        raise ValueError(f"ncrna_fraction must lie strictly between 0 and 1, got {ncrna_fraction}")
    if "is_ncrna" not in dataset.column_names:
        raise ValueError(f"the dataset has no 'is_ncrna' column (columns: {dataset.column_names})")
    is_ncrna = np.asarray(dataset.with_format("numpy")["is_ncrna"], dtype=bool)
    ncrna = dataset.select(np.flatnonzero(is_ncrna))
    other = dataset.select(np.flatnonzero(~is_ncrna))
    if len(ncrna) == 0 or len(other) == 0:
        missing = "ncRNA" if len(ncrna) == 0 else "non-ncRNA"
        logger.warning("the dataset has no %s rows; returning the %d other rows unmixed", missing, len(dataset))
        return dataset
    probabilities = None if ncrna_fraction == 0.5 else [ncrna_fraction, 1.0 - ncrna_fraction]
    return datasets.interleave_datasets(
        [ncrna, other], probabilities=probabilities, seed=seed, stopping_strategy="all_exhausted"
    )
