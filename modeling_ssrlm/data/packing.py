"""The one packer: assign sequences to fixed-length rows (best-fit decreasing).

Used by pre-training (rows built once before training), by
:class:`~modeling_ssrlm.data.mlm_collator.DataCollatorForSSM` (rows built per batch) and by the
encoder benchmark, so all three pack the same way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_rows"]


def pack_rows(token_lengths: np.ndarray, row_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign samples to rows of ``row_length`` tokens by best-fit decreasing.

    Returns ``(order, offsets)``: row ``r`` holds samples ``order[offsets[r]:offsets[r + 1]]``.
    Deterministic: ties between equal lengths go to the lower index.
    """
    if len(token_lengths) and (token_lengths.min() < 1 or token_lengths.max() > row_length):
        raise ValueError(f"every sample must have between 1 and {row_length} tokens to fit in a row")
    rows_with_room: list[list[int]] = [[] for _ in range(row_length + 1)]  # free tokens → open rows
    has_room = np.zeros(row_length + 1, dtype=bool)
    row_of = np.empty(len(token_lengths), dtype=np.int64)
    num_rows = 0
    for index in np.argsort(-token_lengths, kind="stable"):
        needed = int(token_lengths[index])
        room = needed + int(has_room[needed:].argmax())
        if has_room[room]:
            row = rows_with_room[room].pop()
            has_room[room] = bool(rows_with_room[room])
        else:
            row, room, num_rows = num_rows, row_length, num_rows + 1
        row_of[index] = row
        if room > needed:
            rows_with_room[room - needed].append(row)
            has_room[room - needed] = True
    order = np.argsort(row_of, kind="stable")
    offsets = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=num_rows))))
    return order, offsets
