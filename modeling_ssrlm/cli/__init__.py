"""The ``ssrlm`` command: secondary structure, embeddings and 3D models for RNA sequences.

::

    ssrlm predict examples/example.fa                 # dot-brackets on stdout, shipped model
    ssrlm predict GGGGAAACCCC --format json           # a plain sequence argument
    cat seqs.fa | ssrlm predict --format ct --out ct/ # stdin, one file per record
    ssrlm embed examples/example.fa --out emb.npz     # per-sequence and per-token embeddings
    ssrlm fold3d examples/example.fa --model runs/fold3d/model --out pdb/   # 3D, a model from fold3d.py
    ssrlm predict examples/example.fa | ssrlm fold3d - --input-2d --out pdb/  # 3D on the pair model's 2D

Input is FASTA (plain or gzip; UTF-8, UTF-16 or Windows-1252), read from files, from standard input
(``-`` or a pipe), or given as plain sequences on the command line; ``ssrlm fold3d --input-2d`` reads
FASTA-style dot-bracket files instead. Records are checked one by one and each is written as soon as
it is predicted.

Error contract (README, "The ssrlm command"): exit 0 when every record was written; exit 2 with one
line ``ssrlm <command>: error: ...`` on stderr for anything the user can fix (a bad record or file,
a model folder that cannot load or lacks the head the command needs, an output location that cannot
be written, a full disk, a bad option), after writing every record before the failure; exit 130 on
Ctrl-C, with the records finished so far written in full. ``--skip-invalid`` reports a bad record
and goes on. ``ssrlm <command>: note: ...`` lines report what was done that the user might not
expect: a skipped record, a renamed output file, pairs a dot-bracket cannot show.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..io.sequences import record_file_name
from ..tokenization_ssrlm import IUPAC_AMBIGUITY_CODES, NUCLEOTIDES

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130
FORMATS = ("dbn", "bpseq", "ct", "json")
DEFAULT_MAX_LENGTH = 4000
#: Batches whose longest sequence is shorter than this run on one torch thread (see :func:`_threads_for`).
ONE_THREAD_BELOW = 128
#: ``ssrlm serve``'s default: a page on a CPU answers a 1,000-nt sequence in seconds (the map grows as length squared).
SERVE_MAX_LENGTH = 1000
_SEQUENCE_ARGUMENT = re.compile(f"^[{NUCLEOTIDES}U{IUPAC_AMBIGUITY_CODES}]+$", re.IGNORECASE)


def default_model_dir() -> Path:
    """The model ``ssrlm predict`` uses without ``--model``.

    ``$SSRLM_MODEL`` if set; else the copy a built wheel carries (``modeling_ssrlm/pretrained/default``,
    see ``setup.py``); else, in a source checkout, the folder under ``models/`` that ``models/DEFAULT`` names.
    """
    if os.environ.get("SSRLM_MODEL"):
        return Path(os.environ["SSRLM_MODEL"])
    package = Path(__file__).resolve().parents[1]
    bundled = package / "pretrained" / "default"
    if bundled.is_dir():
        return bundled
    models = package.parent / "models"
    return models / (models / "DEFAULT").read_text().strip()


class InputError(ValueError):
    """Something the user can fix (input, option, model folder, output location): one line, exit 2."""


@dataclass
class Console:
    """The command's stderr reports (notes and the final error line) and its count of records written."""

    command: str
    written: int = 0

    def note(self, message: str) -> None:
        print(f"ssrlm {self.command}: note: {message}", file=sys.stderr)

    def error(self, message: str) -> None:
        print(f"ssrlm {self.command}: error: {message}", file=sys.stderr)


@dataclass
class Record:
    id: str
    sequence: str
    #: Base pairs given with the record (dot-bracket input, ``read_records(..., structures=True)``); else None.
    pairs: list[tuple[int, int]] | None = None


# --------------------------------------------------------------------------- input


def read_records(inputs: list[str], max_length: int, skip: Callable[[str], None] | None = None,
                 structures: bool = False) -> Iterator[Record]:
    """Yield validated, normalised records from files, ``-``/stdin or plain sequence arguments.

    With ``structures``, inputs are FASTA-style dot-bracket files (``>id``, sequence, structure) and
    each record carries its base pairs. A bad record (illegal character, empty, longer than
    ``max_length``, a structure with an unmatched bracket) raises :class:`InputError`, or, when
    ``skip`` is given, is passed to it as a message and left out. A file that cannot be read or is
    not in the expected format always raises.
    """
    from ..io.sequences import SequenceFormatError

    count = skipped = 0
    for source in inputs or ["-"]:
        try:
            for identifier, sequence, structure in _raw_records(source, count + skipped + 1, structures):
                problem, normalized = _check_record(sequence, max_length)
                pairs = None
                if problem is None and structure is not None:
                    problem, pairs = _check_structure(structure)
                if problem is None:
                    count += 1
                    yield Record(identifier, normalized, pairs)
                    continue
                message = f"record {identifier!r}: {problem}"
                if skip is None:
                    raise InputError(message)
                skip(message)
                skipped += 1
        except SequenceFormatError as error:
            expected = "a valid dot-bracket file (>id, sequence, structure)" if structures else "valid FASTA"
            raise InputError(f"{_source_name(source)} is not {expected}: {error}") from None
        except OSError as error:
            raise InputError(f"cannot read {_source_name(source)}: {error.strerror or error}") from None
    if count == 0:
        raise InputError(f"no valid sequence record ({skipped} skipped)" if skipped else "the input holds no sequence records")


def _source_name(source: str) -> str:
    return "standard input" if source == "-" else source


def _raw_records(source: str, first_number: int, structures: bool = False) -> Iterator[tuple[str, str, str | None]]:
    """``(id, sequence, structure)`` of one input: a FASTA file, ``-`` (stdin), or a plain sequence
    (``seqN``); with ``structures`` a dot-bracket file or stdin, else the structure is None."""
    from ..io.sequences import read_dbn, read_fasta

    kind = "dot-bracket" if structures else "FASTA"
    if source != "-" and not os.path.exists(source) and _SEQUENCE_ARGUMENT.match(source):
        if structures:
            raise InputError(f"{source[:20]}: a plain sequence has no structure; give a dot-bracket file")
        return iter([(f"seq{first_number}", source, None)])
    if source == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError(f"no input: give a {kind} file{'' if structures else ', a sequence'}, "
                             f"or pipe {kind} into standard input")
        stream = sys.stdin.buffer
    elif os.path.isdir(source):
        raise InputError(f"{source} is a folder, not a {kind} file")
    elif not os.path.isfile(source):
        raise InputError(f"{source}: no such file{'' if structures else ' (and not a nucleotide sequence)'}")
    else:
        stream = source
    if structures:
        return ((record.id, record.sequence, record.structure) for record in read_dbn(stream))
    return ((record.id, record.sequence, None) for record in read_fasta(stream))


def _check_structure(structure: str) -> tuple[str | None, list[tuple[int, int]] | None]:
    """``(problem, pairs)`` of a dot-bracket line; ``problem`` is None for a structure the 3D model can build on."""
    from ..secondary_structure import StructureError, parse_dot_bracket

    try:
        return None, parse_dot_bracket(structure)
    except StructureError as error:
        return f"structure: {error}", None


def _check_record(sequence: str, max_length: int) -> tuple[str | None, str]:
    """``(problem, normalised sequence)``; ``problem`` is None for a sequence the models accept."""
    from ..tokenization_ssrlm import normalize_sequence

    try:
        normalized = normalize_sequence(sequence)
    except ValueError as error:
        return str(error), ""
    if not normalized:
        return "empty sequence", ""
    if len(normalized) > max_length:
        return (
            f"{len(normalized)} nt is longer than --max-length {max_length} "
            "(the pair map grows as length squared; raise the limit only with memory to spare)"
        ), ""
    return None, normalized


def _batches(records: Iterator[Record], batch_tokens: int) -> Iterator[list[Record]]:
    """Group consecutive records into batches of about ``batch_tokens`` nucleotides (order kept).

    When reading fails part-way, the records already read are yielded first, so they are still
    written before the error is reported.
    """
    batch, tokens = [], 0
    try:
        for record in records:
            if batch and tokens + len(record.sequence) > batch_tokens:
                yield batch
                batch, tokens = [], 0
            batch.append(record)
            tokens += len(record.sequence)
    except InputError:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


# --------------------------------------------------------------------------- models


def _check_sibling_model_type(model_class, path: Path, remedy: str) -> None:
    """:class:`InputError` when ``path`` holds another of this package's model types (2D folder for 3D, or back).

    The configuration classes explain a foreign or unreadable ``config.json`` themselves; between the
    package's own types the weights would partly match, and transformers' message would not say why.
    """
    try:
        saved = json.loads((path / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return
    wanted = model_class.config_class.model_type
    found = saved.get("model_type") if isinstance(saved, dict) else None
    if found in {"ssrlm", "ssrlm_structure"} - {wanted}:
        architectures = ", ".join(saved.get("architectures") or ["no architecture named"])
        raise InputError(f"{path} holds a {found!r} model ({architectures}), not {wanted!r}; {remedy}")


def load_model(model_class, path: Path, device: str, remedy: str):
    """``model_class.from_pretrained(path)`` on ``device``, or :class:`InputError` with one line.

    transformers initialises weights missing from a folder at random and only warns (the CLI keeps
    stderr for its own reports), so an MLM backbone loaded as a pair model would print random
    structures: every weight the class needs must be in the folder. ``remedy`` says which folder to use.
    """
    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a model folder (no config.json); {remedy}")
    _check_sibling_model_type(model_class, path, remedy)
    try:
        model, loading = model_class.from_pretrained(path, output_loading_info=True)
    except Exception as error:  # whatever a user's folder makes from_pretrained raise, it is that folder's problem
        raise InputError(f"cannot load the model in {path}: {_first_line(error)}") from None
    if loading["missing_keys"]:
        modules = sorted({key.split(".")[0] for key in loading["missing_keys"]})
        architectures = ", ".join(model.config.architectures or ["no architecture named"])
        raise InputError(
            f"{path} ({architectures}) has no weights for {', '.join(modules)}, which "
            f"{model_class.__name__} needs; {remedy}"
        )
    return model.to(device).eval()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _model_folder(args: argparse.Namespace) -> Path:
    """``--model``, else the default model (:func:`default_model_dir`)."""
    if args.model is not None:
        return args.model
    try:
        return default_model_dir()
    except OSError:
        raise InputError("no default model is installed (models/DEFAULT is missing): pass --model DIR") from None


def _pair_model_remedy() -> str:
    """Which folder ``ssrlm predict`` needs, naming the default model when there is one."""
    try:
        return f"use a pair-prediction model (finetune_ss.py), such as the default {default_model_dir()} (leave out --model)"
    except OSError:
        return "use a pair-prediction model (a folder written by finetune_ss.py)"


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA device is available")
    return name


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; all cores where there is none)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def predict_structures(model, sequences: list[str], batch_tokens: int, prior_workers: int = 1) -> list:
    """``model.predict`` of each sequence, in order; a 1-nt sequence gets the empty structure.

    ``prior_workers``: processes for the prior channels of long inputs (see ``pair_probabilities``).

    One nucleotide cannot pair, and the pair model cannot run on it alone (its instance norm needs
    more than one value per map), so it is answered without the model.
    """
    import numpy as np

    from ..modeling_ssrlm_pair import PairPrediction

    runnable = [sequence for sequence in sequences if len(sequence) > 1]
    predicted = iter(model.predict(runnable, batch_tokens=batch_tokens, prior_workers=prior_workers) if runnable else [])
    return [
        next(predicted) if len(sequence) > 1 else PairPrediction(sequence, np.zeros((1, 1), np.float32), [])
        for sequence in sequences
    ]


# --------------------------------------------------------------------------- output


def format_prediction(record: Record, pairs: list[tuple[int, int]], fmt: str) -> tuple[str, list[tuple[int, int]]]:
    """Render one predicted structure in ``fmt``; return the text and the pairs it could not show.

    Only a dot-bracket (``dbn``, and the ``structure`` field of ``json``) can leave pairs out: those
    needing more than its 30 bracket levels (see :func:`~modeling_ssrlm.secondary_structure.format_dot_bracket`).
    ``json`` lists every pair, 0-based, and those left out of ``structure`` in ``pairs_not_in_structure``.
    """
    from ..secondary_structure import format_dot_bracket, write_bpseq, write_ct
    from ..tokenization_ssrlm import to_rna

    sequence = to_rna(record.sequence)
    if fmt in ("dbn", "json"):
        structure, unplaced = format_dot_bracket(pairs, len(sequence))
        if fmt == "dbn":
            return f">{record.id}\n{sequence}\n{structure}\n", unplaced
        payload = {
            "id": record.id,
            "sequence": sequence,
            "structure": structure,
            "pairs": [[int(i), int(j)] for i, j in pairs],
            "pairs_not_in_structure": [[i, j] for i, j in unplaced],
        }
        return json.dumps(payload) + "\n", unplaced
    buffer = io.StringIO()
    if fmt == "bpseq":
        buffer.write(f"# {record.id}\n")
        write_bpseq(buffer, sequence, pairs)
    else:
        write_ct(buffer, sequence, pairs, title=record.id)
    return buffer.getvalue(), []


class FileNames:
    """Unique, stable file names for the records of one run.

    A record's name is :func:`~modeling_ssrlm.io.sequences.record_file_name` of its id; when an
    earlier record of the run has that name (``a/b`` and ``a_b``, a repeated id, or ``A`` and ``a``,
    which are one file on macOS and Windows), ``~2``, ``~3``, ... is appended and a note says so.
    ``record_file_name`` never produces ``~``, so a suffixed name is never another record's own name.
    The same input always gives the same names.
    """

    def __init__(self, console: Console):
        self.console = console
        self.taken: dict[str, str] = {}  # lower-case name → id of the record that has it

    def stem(self, identifier: str) -> str:
        base = record_file_name(identifier)
        name, number = base, 1
        while name.lower() in self.taken:
            number += 1
            name = f"{base}~{number}"
        if name != base:
            self.console.note(
                f"record {identifier!r} is written as {name}: the name {base} is taken by record "
                f"{self.taken[base.lower()]!r}"
            )
        self.taken[name.lower()] = identifier
        return name


def prepare_out_dir(out: Path, overwrite: bool) -> None:
    """Create ``--out``, or accept an existing folder that is empty (any folder with ``--overwrite``).

    Refusing a non-empty folder keeps the files of an earlier run from being replaced without a word;
    with ``--overwrite`` files of the same name are replaced and other files are left alone.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if not out.is_dir():
        try:
            out.mkdir(parents=True)
        except OSError as error:
            raise InputError(f"cannot create --out {out}: {error.strerror or error}") from None
        return
    entries = sum(1 for _ in out.iterdir())
    if entries and not overwrite:
        raise InputError(
            f"--out {out} is not empty ({entries} entries): pass --overwrite to replace files of the same name, "
            "or choose a new folder"
        )


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file, then rename it to ``path``: a file is complete or absent.

    An interruption or a full disk leaves no half-written file behind (and no temporary file).
    """
    temporary = path.with_name(path.name + ".tmp")
    try:
        write(temporary)
        temporary.replace(path)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def write_stdout(text: str) -> None:
    """Write and flush ``text``; a failure other than a closed pipe is an :class:`InputError`."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        _detach_stdout()
        raise InputError(f"cannot write standard output: {error.strerror or error}") from None


def _detach_stdout() -> None:
    """Point the stdout file descriptor at /dev/null, so that Python's final flush of the data still
    buffered cannot fail again (an "Exception ignored" message and exit code 120)."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class PredictionWriter:
    """Writes each prediction as soon as it is made: to stdout, or one file per record under ``out``."""

    def __init__(self, fmt: str, out: Path | None, plot: bool, console: Console):
        self.fmt, self.out, self.plot, self.console = fmt, out, plot, console
        self.names = FileNames(console)

    def write(self, record: Record, prediction) -> None:
        text, unplaced = format_prediction(record, prediction.pairs, self.fmt)
        if unplaced:
            self.console.note(
                f"record {record.id!r}: {len(unplaced)} of {len(prediction.pairs)} pairs need more than the 30 "
                "bracket levels of a dot-bracket and are left out of it (--format bpseq, ct or json lists them)"
            )
        if self.out is None:
            write_stdout(text)
        else:
            stem = self.names.stem(record.id)
            write_atomically(self.out / f"{stem}.{self.fmt}", lambda path: path.write_text(text, encoding="utf-8"))
            if self.plot:
                figure = draw_prediction(record, prediction.probabilities, prediction.pairs)
                write_atomically(self.out / f"{stem}.png", lambda path: _save_figure(figure, path))
                self._write_drawing(record, prediction, self.out / f"{stem}.svg")
        self.console.written += 1

    def _write_drawing(self, record: Record, prediction, path: Path) -> None:
        """RNAplot's drawing of the structure (``--plot``), noting the pseudoknotted pairs it leaves out."""
        from ..tokenization_ssrlm import to_rna
        from .structure_drawing import draw_structure

        drawing = draw_structure(to_rna(record.sequence), prediction.pairs, prediction.probabilities, record.id)
        if drawing.undrawn_pairs:
            self.console.note(
                f"record {record.id!r}: {path.name} leaves out {len(drawing.undrawn_pairs)} pseudoknotted pairs "
                "(RNAplot draws nested structures only)"
            )
        write_atomically(path, lambda temporary: temporary.write_text(drawing.svg, encoding="utf-8"))


def draw_prediction(record: Record, probabilities, pairs):
    """A figure: pair-probability heat map with the predicted pairs circled above the diagonal
    (row ``i`` < column ``j``), and an arc diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc

    length = len(record.sequence)
    figure, (heat, arcs) = plt.subplots(1, 2, figsize=(11, 5), gridspec_kw={"width_ratios": [1, 1.4]})
    image = heat.imshow(probabilities, cmap="viridis", vmin=0, vmax=1, origin="upper")
    if pairs:
        rows, cols = zip(*pairs)
        heat.scatter(cols, rows, s=8, facecolors="none", edgecolors="red", linewidths=0.6, label="predicted pairs")
        heat.legend(loc="lower left", fontsize=7)
    heat.set_title("pair probability\n(circles above the diagonal: predicted pairs)", fontsize=9)
    heat.set_xlabel("position j")
    heat.set_ylabel("position i")
    figure.colorbar(image, ax=heat, fraction=0.046)
    for i, j in pairs:
        arcs.add_patch(Arc(((i + j) / 2, 0), j - i, j - i, theta1=0, theta2=180, linewidth=0.8, color="tab:blue"))
    arcs.set_xlim(-1, length)
    arcs.set_ylim(0, max([j - i for i, j in pairs], default=2) / 2 + 1)
    arcs.set_yticks([])
    arcs.set_xlabel("position")
    arcs.set_title(f"{record.id} ({length} nt, {len(pairs)} pairs)")
    figure.tight_layout()
    return figure


def _save_figure(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        figure.savefig(path, format="png", dpi=120)
    finally:
        plt.close(figure)


def _progress():
    from tqdm.auto import tqdm

    return tqdm(unit="seq", desc="predict", disable=not sys.stderr.isatty())


# --------------------------------------------------------------------------- commands


def _skipper(args: argparse.Namespace, console: Console) -> Callable[[str], None] | None:
    """With ``--skip-invalid``, a callback that notes each skipped record; else None (a bad record stops)."""
    return (lambda message: console.note(f"skipped {message}")) if args.skip_invalid else None


def _decode_canonical_only(model) -> None:
    """``--canonical-only``: decode AU/GC/GU pairs only (no non-canonical pass), whatever the folder's config says."""
    if not model.config.pair_postprocess:
        raise InputError("--canonical-only needs a model that post-processes its pairs (pair_postprocess is off)")
    model.config.pair_canonical_only, model.config.pair_noncanonical_threshold = True, None


def command_predict(args: argparse.Namespace, console: Console) -> None:
    from ..modeling_ssrlm_pair import SSRLMForPairPrediction

    if args.plot and args.out is None:
        raise InputError("--plot needs --out DIR for the PNG and SVG files")
    if args.out is not None:
        prepare_out_dir(args.out, args.overwrite)
    model = load_model(SSRLMForPairPrediction, _model_folder(args), _device(args.device), _pair_model_remedy())
    if args.canonical_only:
        _decode_canonical_only(model)
    writer = PredictionWriter(args.format, args.out, args.plot, console)
    progress = _progress()
    for batch in _batches(read_records(args.inputs, args.max_length, _skipper(args, console)), args.batch_tokens):
        predictions = _predict_batch(model, batch, args.batch_tokens, args.jobs)
        for record, prediction in zip(batch, predictions):
            writer.write(record, prediction)
        progress.update(len(batch))
    progress.close()


def _threads_for(longest: int) -> int:
    """Torch CPU threads for a batch: one below :data:`ONE_THREAD_BELOW` nt, else all of this process's.

    On short inputs the work per operation is too small to share: a second thread only waits for the
    first (``benchmarks/bench_cli_startup.py``: 1.1 CPU-s instead of 0.02 for an 11-nt sequence on a
    busy 2-core machine).
    """
    return 1 if longest < ONE_THREAD_BELOW else _torch_default_threads()


@functools.cache
def _torch_default_threads() -> int:
    """torch's own thread count (``OMP_NUM_THREADS`` or the cores), read before the CLI changes it."""
    import torch

    return torch.get_num_threads()


def _predict_batch(model, batch: list[Record], batch_tokens: int, jobs: int = 1) -> list:
    """:func:`predict_structures` for a batch of records; running out of memory is an :class:`InputError`
    (the pair map grows as length squared, so the remedy is smaller batches or shorter sequences)."""
    import torch

    threads = _threads_for(max(len(record.sequence) for record in batch))  # reads torch's default first
    torch.set_num_threads(threads)
    try:
        return predict_structures(model, [record.sequence for record in batch], batch_tokens, jobs)
    except (MemoryError, torch.cuda.OutOfMemoryError):
        longest = max(len(record.sequence) for record in batch)
        raise InputError(
            f"out of memory predicting {len(batch)} records of up to {longest} nt (first {batch[0].id!r}): "
            "lower --batch-tokens, or --max-length to leave the longest sequences out"
        ) from None


def command_embed(args: argparse.Namespace, console: Console) -> None:
    import numpy as np
    import torch

    from ..modeling_ssrlm import SSRLMModel
    from ..tokenization_ssrlm import SSRLMTokenizer

    if args.out.suffix not in (".npz", ".parquet"):
        raise InputError(f"--out must end in .npz or .parquet, got {args.out.name!r}")
    remedy = "pass a folder saved from an SSR-LM model (train_mlm.py, finetune_ss.py, or the default model)"
    device = _device(args.device)
    model = load_model(SSRLMModel, _model_folder(args), device, remedy)
    tokenizer = SSRLMTokenizer()
    ids, sequences, pooled, per_token = [], [], [], []
    try:
        with torch.inference_mode():
            for record in read_records(args.inputs, args.max_length, _skipper(args, console)):
                encoded = tokenizer(record.sequence, return_tensors="pt").to(device)
                hidden = model(**encoded).last_hidden_state[0, 1:-1].float().cpu().numpy()
                ids.append(record.id)
                sequences.append(record.sequence)
                per_token.append(hidden)
                pooled.append(hidden.mean(axis=0))
    finally:
        if ids:
            _write_embeddings(args.out, ids, sequences, np.stack(pooled), per_token)
            console.written = len(ids)


def _write_embeddings(out: Path, ids, sequences, pooled, per_token) -> None:
    """``.npz``: ``ids``, ``sequences``, ``embeddings`` (N × D) and ``tokens_<k>`` (L_k × D) per record;
    ``.parquet``: one row per record with ``embedding`` and ``token_embeddings`` list columns."""
    import numpy as np

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the folder of --out {out}: {error.strerror or error}") from None
    if out.suffix == ".npz":
        arrays = {f"tokens_{k}": tokens for k, tokens in enumerate(per_token)}

        def write(path: Path) -> None:
            with open(path, "wb") as handle:
                np.savez(handle, ids=np.array(ids), sequences=np.array(sequences), embeddings=pooled, **arrays)

    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "id": ids,
                "sequence": sequences,
                "embedding": [row.tolist() for row in pooled],
                "token_embeddings": [tokens.tolist() for tokens in per_token],
            }
        )

        def write(path: Path) -> None:
            pq.write_table(table, path)

    write_atomically(out, write)


def command_fold3d(args: argparse.Namespace, console: Console) -> None:
    from ..fold3d import SSRLMForStructurePrediction
    from ..fold3d.inference import default_model_dir, write_predicted_structures
    from ..fold3d.secondary import KnownStructureSource

    model_dir = args.model if args.model is not None else default_model_dir()
    if model_dir is None and args.mode != "floor":
        raise InputError("no 3D model found: pass --model DIR (a folder from `fold3d.py train`), set "
                         "SSRLM_FOLD3D_MODEL, or use --mode floor (the A-form floor needs no weights)")
    prepare_out_dir(args.out, args.overwrite)
    model = None
    if model_dir is not None:
        remedy = "pass a folder trained with `fold3d.py train`, or leave out --model for the shipped one"
        model = load_model(SSRLMForStructurePrediction, model_dir, _device(args.device), remedy)
    mode = args.mode or model.config.default_mode
    names = FileNames(console)
    progress = _progress()
    for record in read_records(args.inputs, args.max_length, _skipper(args, console), structures=args.input_2d):
        # --input-2d: the record's own structure replaces the model's 2D source (pairs and probabilities)
        source = None
        if args.input_2d:
            _note_tight_pairs(record, console)
            source = KnownStructureSource({record.sequence: record.pairs}, name="input")
        [(identifier, path, plddt)] = write_predicted_structures(
            model, [(record.id, record.sequence)], args.out, mode, source, file_stem=names.stem
        )
        write_stdout(f"{identifier}\tmean pLDDT {100 * plddt:.1f}\t{path}\n")
        console.written += 1
        progress.update(1)
    progress.close()


def _note_tight_pairs(record: Record, console: Console) -> None:
    """Note given pairs that enclose fewer than 3 bases: no hairpin closes that tight, and an ideal helix
    cannot hold them (the model is built as given, with a broken chain there)."""
    tight = [(i, j) for i, j in record.pairs if j - i < 4]
    if tight:
        i, j = tight[0]
        console.note(f"record {record.id!r}: {len(tight)} given pair(s) enclose fewer than 3 bases (first: "
                     f"{i + 1}-{j + 1}, 1-based); built as given, the chain is broken there")


def command_serve(args: argparse.Namespace, console: Console) -> None:
    """Serve the prediction page (``modeling_ssrlm/cli/serve.py``) until Ctrl-C."""
    from .serve import run_server

    run_server(_model_folder(args), _device(args.device), args.host, args.port, args.max_length)


# --------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    """argparse with the command's error contract: a usage error is one stderr line and exit code 2."""

    def error(self, message: str):
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ssrlm", description="Structure-aware RNA language models (SSR-LM).")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("inputs", nargs="*", help="FASTA files, '-' for standard input, or plain sequences")
        sub.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
        sub.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
        sub.add_argument(
            "--max-length", type=_positive_int, default=DEFAULT_MAX_LENGTH, help="reject longer sequences (nt)"
        )
        sub.add_argument(
            "--skip-invalid", action="store_true",
            help="report a bad record (illegal characters, empty, too long) on stderr and go on, instead of stopping",
        )  # fmt: skip

    def overwrite(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--overwrite", action="store_true",
            help="write into a non-empty --out folder, replacing files of the same name (without it: refused)",
        )  # fmt: skip

    predict = commands.add_parser("predict", help="predict secondary structures")
    common(predict)
    predict.add_argument(
        "--format", choices=FORMATS, default="dbn",
        help="dbn: >id, sequence, dot-bracket; bpseq and ct: 1-based tables; json: one object per line "
        "with 0-based 'pairs' (default: dbn)",
    )  # fmt: skip
    predict.add_argument(
        "--out", type=Path, default=None,
        help="write one file per record into this folder, named after the record id (default: stdout)",
    )  # fmt: skip
    overwrite(predict)
    predict.add_argument(
        "--plot", action="store_true",
        help="also write per record a PNG (probability map, arc diagram) and an SVG drawing (RNAplot; needs --out)",
    )  # fmt: skip
    predict.add_argument(
        "--canonical-only", action="store_true",
        help="AU, GC and GU pairs only: switches off the non-canonical pairs a model may add (ssrlm-ss-priors-pdb does)",
    )  # fmt: skip
    predict.add_argument("--batch-tokens", type=_positive_int, default=8192, help="nucleotides per model batch")
    predict.add_argument(
        "--jobs", type=_positive_int, default=available_cores(),
        help="processes for the energy-model input channels of long inputs: one per sequence and parameter set "
        f"(default: the cores available, {available_cores()})",
    )  # fmt: skip
    predict.set_defaults(handler=command_predict)

    embed = commands.add_parser("embed", help="per-sequence and per-token embeddings")
    common(embed)
    embed.add_argument("--out", type=Path, required=True, help="output file, .npz or .parquet")
    embed.set_defaults(handler=command_embed)

    fold3d = commands.add_parser("fold3d", help="3D structures as PDB files (pLDDT in the B-factor column)")
    common(fold3d)
    fold3d.add_argument("--out", type=Path, required=True, help="folder for one PDB file per record")
    overwrite(fold3d)
    fold3d.add_argument("--mode", choices=("network", "floor"), default=None,
                        help="network: the structure module's output; floor: the A-form floor on the 2D it starts "
                             "from (default: the model's default_mode)")
    fold3d.add_argument(
        "--input-2d", action="store_true",
        help="inputs are dot-bracket files (>id, sequence, structure: what RNAfold or `ssrlm predict` writes); "
        "build each model on its own structure instead of the model's 2D source",
    )  # fmt: skip
    fold3d.set_defaults(handler=command_fold3d)

    serve = commands.add_parser("serve", help="a web page that predicts secondary structures (Gradio)")
    serve.add_argument("--model", type=Path, default=None, help="pair model folder (default: the shipped model)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=_positive_int, default=7860, help="port (default: 7860)")
    serve.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    serve.add_argument(
        "--max-length", type=_positive_int, default=SERVE_MAX_LENGTH, help="longest sequence the page accepts (nt)"
    )
    serve.set_defaults(handler=command_serve)
    return parser


def _quiet_libraries() -> None:
    """Keep stderr for the command's own one-line reports: no transformers warnings or progress bars."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (0, 2 for anything the user can fix, 130 on Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_request:  # --help, or a usage error already reported in one line
        return int(exit_request.code or 0)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")  # an id the terminal cannot show is escaped, not fatal
    console = Console(args.command)
    try:
        _quiet_libraries()
        args.handler(args, console)
    except InputError as error:
        console.error(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        console.error(f"interrupted after {console.written} records (each of them written in full)")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`ssrlm predict x.fa | head`): not an error
        _detach_stdout()
        return EXIT_OK
    except OSError as error:
        console.error(f"{error.filename}: {error.strerror}" if error.filename else str(error))
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
