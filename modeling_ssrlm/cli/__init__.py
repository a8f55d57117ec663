"""The ``ssrlm`` command: secondary structure, embeddings and 3D models for RNA sequences.

::

    ssrlm predict examples/example.fa                 # dot-brackets on stdout, shipped model
    ssrlm predict GGGGAAACCCC --format json           # a plain sequence argument
    cat seqs.fa | ssrlm predict --format ct --out ct/ # stdin, one file per record
    ssrlm embed examples/example.fa --out emb.npz     # per-sequence and per-token embeddings
    ssrlm fold3d examples/example.fa --model runs/fold3d/model --out pdb/   # 3D, a model from fold3d.py

Input is FASTA (plain or gzip), read from files, from standard input (``-`` or a pipe), or given as
plain sequences on the command line. Records are checked one by one: when one is bad (illegal
characters, empty, longer than ``--max-length``) or the input is not FASTA, everything before it is
still written, then one line on stderr names the record and the reason and the exit code is 2.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..io.sequences import record_file_name

EXIT_BAD_INPUT = 2
FORMATS = ("dbn", "bpseq", "ct", "json")
DEFAULT_MAX_LENGTH = 4000
_SEQUENCE_ARGUMENT = re.compile(r"^[ACGTUNRYSWKMBDHVacgtunryswkmbdhv]+$")


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
    """Bad user input; ``record`` names the offending record when there is one."""


@dataclass
class Record:
    id: str
    sequence: str


# --------------------------------------------------------------------------- input


def read_records(inputs: list[str], max_length: int) -> Iterator[Record]:
    """Yield validated, normalised records from files, ``-``/stdin or plain sequence arguments."""
    from ..io.sequences import SequenceFormatError, read_fasta
    from ..tokenization_ssrlm import normalize_sequence

    sources = inputs or ["-"]
    count = 0
    for source in sources:
        if source != "-" and not os.path.exists(source) and _SEQUENCE_ARGUMENT.match(source):
            raw = [(f"seq{count + 1}", source)]
        else:
            if source == "-" and sys.stdin.isatty():
                raise InputError("no input: give a FASTA file, a sequence, or pipe FASTA into standard input")
            handle = sys.stdin.buffer if source == "-" else source
            if source != "-" and not os.path.isfile(source):
                raise InputError(f"{source}: no such file (and not a nucleotide sequence)")
            raw = ((record.id, record.sequence) for record in read_fasta(handle))
        try:
            for identifier, sequence in raw:
                count += 1
                try:
                    normalized = normalize_sequence(sequence)
                except ValueError as error:
                    raise InputError(f"record {identifier!r}: {error}") from None
                if not normalized:
                    raise InputError(f"record {identifier!r}: empty sequence")
                if len(normalized) > max_length:
                    raise InputError(
                        f"record {identifier!r}: {len(normalized)} nt is longer than --max-length {max_length} "
                        "(the pair map grows as length squared; raise the limit only with memory to spare)"
                    )
                yield Record(identifier, normalized)
        except SequenceFormatError as error:
            raise InputError(f"{source if source != '-' else 'standard input'} is not valid FASTA: {error}") from None
    if count == 0:
        raise InputError("the input holds no sequence records")


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


# --------------------------------------------------------------------------- output


def format_prediction(record: Record, pairs: list[tuple[int, int]], fmt: str) -> str:
    """Render one predicted structure in ``fmt`` (``dbn``, ``bpseq``, ``ct`` or ``json``)."""
    from ..secondary_structure import to_dot_bracket, write_bpseq, write_ct
    from ..tokenization_ssrlm import to_rna

    sequence = to_rna(record.sequence)
    if fmt == "dbn":
        return f">{record.id}\n{sequence}\n{to_dot_bracket(pairs, len(sequence))}\n"
    if fmt == "json":
        payload = {
            "id": record.id,
            "sequence": sequence,
            "structure": to_dot_bracket(pairs, len(sequence)),
            "pairs": [[int(i), int(j)] for i, j in pairs],
        }
        return json.dumps(payload) + "\n"
    buffer = io.StringIO()
    if fmt == "bpseq":
        buffer.write(f"# {record.id}\n")
        write_bpseq(buffer, sequence, pairs)
    else:
        write_ct(buffer, sequence, pairs, title=record.id)
    return buffer.getvalue()


class Writer:
    """Writes each record as soon as it is predicted: to stdout, or one file per record under ``out``."""

    def __init__(self, fmt: str, out: Path | None):
        self.fmt, self.out = fmt, out
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def write(self, record: Record, text: str) -> None:
        if self.out is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        path = self.out / f"{record_file_name(record.id)}.{self.fmt}"
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(text)
        temporary.replace(path)


def plot_prediction(record: Record, probabilities, pairs, path: Path) -> None:
    """Save a PNG: pair-probability heat map with the predicted pairs, and an arc diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc

    length = len(record.sequence)
    figure, (heat, arcs) = plt.subplots(1, 2, figsize=(11, 5), gridspec_kw={"width_ratios": [1, 1.4]})
    image = heat.imshow(probabilities, cmap="viridis", vmin=0, vmax=1, origin="upper")
    if pairs:
        rows, cols = zip(*pairs)
        heat.scatter(rows, cols, s=8, facecolors="none", edgecolors="red", linewidths=0.6, label="predicted pairs")
        heat.legend(loc="upper right", fontsize=7)
    heat.set_title("pair probability (upper: pairs)")
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
    figure.savefig(path, dpi=120)
    plt.close(figure)


# --------------------------------------------------------------------------- commands


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA device is available")
    return name


def _load_pair_model(path: Path, device: str):
    from ..modeling_ssrlm_pair import SSRLMForPairPrediction

    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a model folder (no config.json); pass --model DIR")
    return SSRLMForPairPrediction.from_pretrained(path).to(device).eval()


def _progress(total_hint: bool):
    from tqdm.auto import tqdm

    return tqdm(unit="seq", desc="predict", disable=not total_hint or not sys.stderr.isatty())


def command_predict(args: argparse.Namespace) -> None:
    model = _load_pair_model(args.model, _device(args.device))
    writer = Writer(args.format, args.out)
    if args.plot and args.out is None:
        raise InputError("--plot needs --out DIR for the PNG files")
    progress = _progress(True)
    for batch in _batches(read_records(args.inputs, args.max_length), args.batch_tokens):
        predictions = model.predict([record.sequence for record in batch], batch_tokens=args.batch_tokens)
        for record, prediction in zip(batch, predictions):
            writer.write(record, format_prediction(record, prediction.pairs, args.format))
            if args.plot:
                plot_prediction(record, prediction.probabilities, prediction.pairs, args.out / f"{record_file_name(record.id)}.png")
        progress.update(len(batch))
    progress.close()


def command_embed(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from ..modeling_ssrlm import SSRLMModel
    from ..tokenization_ssrlm import SSRLMTokenizer

    if args.out.suffix not in (".npz", ".parquet"):
        raise InputError(f"--out must end in .npz or .parquet, got {args.out.name!r}")
    if not (args.model / "config.json").is_file():
        raise InputError(f"{args.model} is not a model folder (no config.json); pass --model DIR")
    device = _device(args.device)
    model = SSRLMModel.from_pretrained(args.model).to(device).eval()
    tokenizer = SSRLMTokenizer()
    ids, sequences, pooled, per_token = [], [], [], []
    try:
        with torch.inference_mode():
            for record in read_records(args.inputs, args.max_length):
                encoded = tokenizer(record.sequence, return_tensors="pt").to(device)
                hidden = model(**encoded).last_hidden_state[0, 1:-1].float().cpu().numpy()
                ids.append(record.id)
                sequences.append(record.sequence)
                per_token.append(hidden)
                pooled.append(hidden.mean(axis=0))
    finally:
        if ids:
            _write_embeddings(args.out, ids, sequences, np.stack(pooled), per_token)


def _write_embeddings(out: Path, ids, sequences, pooled, per_token) -> None:
    """``.npz``: ``ids``, ``sequences``, ``embeddings`` (N × D) and ``tokens_<k>`` (L_k × D) per record;
    ``.parquet``: one row per record with ``embedding`` and ``token_embeddings`` list columns."""
    import numpy as np

    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp" + out.suffix)
    if out.suffix == ".npz":
        arrays = {f"tokens_{k}": tokens for k, tokens in enumerate(per_token)}
        np.savez(temporary, ids=np.array(ids), sequences=np.array(sequences), embeddings=pooled, **arrays)
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
        pq.write_table(table, temporary)
    temporary.replace(out)


def command_fold3d(args: argparse.Namespace) -> None:
    from ..fold3d import SSRLMForStructurePrediction
    from ..fold3d.inference import default_model_dir, write_predicted_structures

    model_dir = args.model if args.model is not None else default_model_dir()
    if model_dir is not None and not (model_dir / "config.json").is_file():
        raise InputError(f"--model {model_dir}: no config.json there (a folder written by `fold3d.py train`)")
    if model_dir is None and args.mode != "floor":
        raise InputError("no 3D model found: pass --model DIR (a folder from `fold3d.py train`), set "
                         "SSRLM_FOLD3D_MODEL, or use --mode floor (the A-form floor needs no weights)")
    model = None
    if model_dir is not None:
        model = SSRLMForStructurePrediction.from_pretrained(model_dir).to(_device(args.device))
    mode = args.mode or model.config.default_mode
    progress = _progress(True)
    records = ((record.id, record.sequence) for record in read_records(args.inputs, args.max_length))
    for identifier, path, plddt in write_predicted_structures(model, records, args.out, mode):
        print(f"{identifier}\tmean pLDDT {100 * plddt:.1f}\t{path}")
        progress.update(1)
    progress.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssrlm", description="Structure-aware RNA language models (SSR-LM).")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("inputs", nargs="*", help="FASTA files, '-' for standard input, or plain sequences")
        sub.add_argument("--model", type=Path, default=default_model_dir(), help="model folder (default: shipped model)")
        sub.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
        sub.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="reject longer sequences (nt)")

    predict = commands.add_parser("predict", help="predict secondary structures")
    common(predict)
    predict.add_argument("--format", choices=FORMATS, default="dbn")
    predict.add_argument("--out", type=Path, default=None, help="write one file per record here (default: stdout)")
    predict.add_argument("--plot", action="store_true", help="also write a PNG per record (needs --out)")
    predict.add_argument("--batch-tokens", type=int, default=8192, help="nucleotides per model batch")
    predict.set_defaults(handler=command_predict)

    embed = commands.add_parser("embed", help="per-sequence and per-token embeddings")
    common(embed)
    embed.add_argument("--out", type=Path, required=True, help="output file, .npz or .parquet")
    embed.set_defaults(handler=command_embed)

    fold3d = commands.add_parser("fold3d", help="3D structures as PDB files (pLDDT in the B-factor column)")
    common(fold3d)
    fold3d.set_defaults(model=None)
    fold3d.add_argument("--out", type=Path, required=True, help="folder for one PDB file per record")
    fold3d.add_argument("--mode", choices=("network", "floor"), default=None,
                        help="network: the structure module's output; floor: the A-form floor on the 2D it starts "
                             "from (default: the model's default_mode)")
    fold3d.set_defaults(handler=command_fold3d)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # keep stderr for our own one-line reports
    transformers_logging.disable_progress_bar()
    try:
        args.handler(args)
    except InputError as error:
        print(f"ssrlm {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
