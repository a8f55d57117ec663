"""``ssrlm serve``: a web page that predicts RNA secondary structures with a pair model (Gradio).

::

    ssrlm serve                                   # http://127.0.0.1:7860 with the default model
    ssrlm serve --model runs/ss-bprna --port 8080

The page takes pasted sequences (one per line, or FASTA) and/or an uploaded FASTA file (plain or gzip),
checks them with the readers of ``ssrlm predict`` (same rules, same messages), predicts, and shows per
record RNAplot's drawing coloured by model confidence (:mod:`.structure_drawing`), the probability map
of ``ssrlm predict --plot``, the dot-bracket, and the ``dbn``, ``bpseq``, ``ct`` and ``json`` files of
``ssrlm predict --format`` (with the SVG and PNG) to download. A bad input is one message in the page,
never a traceback. A button builds the record's 3D model (what ``ssrlm fold3d`` writes with the shipped
3D model, or ``$SSRLM_FOLD3D_MODEL``, in its default mode; up to :data:`MAX_3D_LENGTH` nt) and adds the
PDB file, pLDDT in its B-factor column, to the downloads.

Limits and safety: the server listens on 127.0.0.1 (this machine only) unless ``--host`` says otherwise.
Gradio's analytics are off, no share link is made, and the page loads nothing from other hosts (it
uses the machine's own fonts). Every file a request reads or writes lies in the
server's private temporary folder, which Gradio's upload cache is pointed at and which is removed at
exit: the page never reads a path the user names. Uploads and pasted text over
:data:`MAX_INPUT_BYTES` (gzip: once decompressed), more than :data:`MAX_RECORDS` records and sequences
longer than ``--max-length`` are refused with a message.

``app.py`` at the repository root serves the same page as a Hugging Face Space.
"""

from __future__ import annotations

import atexit
import gzip
import html
import os
import shutil
import signal
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import (
    FORMATS,
    SERVE_MAX_LENGTH,
    Console,
    FileNames,
    InputError,
    Record,
    _device,
    _pair_model_remedy,
    _save_figure,
    default_model_dir,
    draw_prediction,
    format_prediction,
    load_model,
    predict_structures,
    read_records,
)
from .structure_drawing import StructureDrawing, draw_structure

if TYPE_CHECKING:
    import gradio as gr

MAX_RECORDS = 50
MAX_INPUT_BYTES = 1_000_000
#: Request folders older than this are removed when a new request comes in.
REQUEST_FOLDER_LIFETIME_S = 3600
#: Longest record the page builds a 3D model of: one prediction takes about 8 s at 500 nt on one CPU
#: thread and 48 s at 1,000 (``benchmarks/bench_fold3d_length.py``); ``ssrlm fold3d`` has no such limit.
MAX_3D_LENGTH = 500
BATCH_TOKENS = 8192

#: The machine's own fonts: nothing to fetch, and the bundled Source Sans Pro lacks glyphs at weight 600.
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
SYSTEM_MONO_FONTS = ["ui-monospace", "monospace"]
CSS = """
.gradio-container { max-width: 1200px !important; margin: 0 auto !important; }
#ssrlm-status .ssrlm-error { color: #b42318; background: #fef3f2; border: 1px solid #fecdca;
  border-radius: 8px; padding: 10px 14px; }
#ssrlm-status .ssrlm-done { color: #344054; padding: 4px 2px; }
#ssrlm-dot-bracket textarea { font-family: ui-monospace, monospace; font-size: 13px;
  white-space: pre; overflow-x: auto; overflow-wrap: normal; }
#ssrlm-drawing svg { display: block; width: 100%; height: auto; max-height: 600px; }
"""


@dataclass
class RecordResult:
    """What the page shows for one record, and the files it offers."""

    record: Record
    dot_bracket: str  # the ``dbn`` output: ``>id``, sequence, dot-bracket
    drawing: StructureDrawing
    figure: Path  # the probability map (PNG of ``ssrlm predict --plot``)
    files: list[Path]
    notes: list[str] = field(default_factory=list)


class _PageConsole(Console):
    """Collects the notes ``ssrlm predict`` prints on stderr, to show them in the page instead."""

    def __init__(self):
        super().__init__("serve")
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


class Predictor:
    """The model and limits behind the page: reads one request's input and predicts its records.

    ``workdir`` is the server's private folder; each request works in a folder of its own under it.
    """

    def __init__(self, model, model_name: str, workdir: Path, max_length: int = SERVE_MAX_LENGTH,
                 structure_model=None, structure_model_name: str | None = None):
        self.model, self.model_name, self.workdir, self.max_length = model, model_name, workdir, max_length
        self.structure_model, self.structure_model_name = structure_model, structure_model_name

    def new_request_folder(self) -> Path:
        """A fresh folder for one request's files; folders of requests older than an hour are removed."""
        requests = self.workdir / "requests"
        requests.mkdir(parents=True, exist_ok=True)
        for old in requests.iterdir():
            if time.time() - old.stat().st_mtime > REQUEST_FOLDER_LIFETIME_S:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=requests))

    def read(self, text: str | None, upload: str | None, folder: Path) -> list[Record]:
        """The validated records of the pasted ``text`` and the ``upload`` (a path in Gradio's upload cache).

        Raises :class:`InputError` with a message for the page: the messages of ``ssrlm predict``, with
        "the pasted text" or the upload's name in place of the paths of this server's files.
        """
        sources: dict[str, str] = {}
        if text and text.strip():
            if len(text.encode("utf-8")) > MAX_INPUT_BYTES:
                raise InputError(f"the pasted text is over the limit of {MAX_INPUT_BYTES:,} bytes")
            pasted = folder / "pasted.fa"
            pasted.write_text(pasted_as_fasta(text), encoding="utf-8")
            sources[str(pasted)] = "the pasted text"
        if upload:
            path = self._checked_upload(Path(upload))
            sources[str(path)] = f"the uploaded file {path.name!r}"
        if not sources:
            raise InputError("paste a sequence or upload a FASTA file first")
        try:
            records = []
            for record in read_records(list(sources), self.max_length):
                records.append(record)
                if len(records) > MAX_RECORDS:
                    raise InputError(f"more than {MAX_RECORDS} records: the page predicts at most {MAX_RECORDS} at a time")
            return records
        except InputError as error:
            message = str(error)
            for path, name in sources.items():
                message = message.replace(path, name)
            raise InputError(message) from None

    def _checked_upload(self, path: Path) -> Path:
        """``path`` if it lies in this server's folder and holds at most :data:`MAX_INPUT_BYTES` (gzip:
        decompressed); Gradio refuses larger uploads before this, which also bounds a gzip bomb."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.workdir.resolve()) or not resolved.is_file():
            raise InputError("the upload is not a file this server received")
        if _content_size(resolved, MAX_INPUT_BYTES + 1) > MAX_INPUT_BYTES:
            raise InputError(f"the uploaded file {path.name!r} is over the limit of {MAX_INPUT_BYTES:,} bytes")
        return resolved

    def predict(self, record: Record, folder: Path, names: FileNames, console: _PageConsole) -> RecordResult:
        """Predict one record and write its files into ``folder`` (names as ``ssrlm predict --out``)."""
        from ..tokenization_ssrlm import to_rna

        [prediction] = predict_structures(self.model, [record.sequence], BATCH_TOKENS)
        stem = names.stem(record.id)
        files = []
        for fmt in FORMATS:
            text, _ = format_prediction(record, prediction.pairs, fmt)
            files.append(folder / f"{stem}.{fmt}")
            files[-1].write_text(text, encoding="utf-8")
        drawing = draw_structure(to_rna(record.sequence), prediction.pairs, prediction.probabilities, record.id)
        files.append(folder / f"{stem}.svg")
        files[-1].write_text(drawing.svg, encoding="utf-8")
        figure = folder / f"{stem}.png"
        _save_figure(draw_prediction(record, prediction.probabilities, prediction.pairs), figure)
        files.append(figure)
        dot_bracket, unplaced = format_prediction(record, prediction.pairs, "dbn")
        notes = console.notes[:]
        console.notes.clear()
        if unplaced:
            notes.append(
                f"{len(unplaced)} of {len(prediction.pairs)} pairs need more than the 30 bracket levels of a "
                "dot-bracket and are left out of it; the bpseq, ct and json files list them"
            )
        if drawing.undrawn_pairs:
            count = len(drawing.undrawn_pairs)
            notes.append(
                f"the drawing leaves out {count} pseudoknotted pair{'s' if count > 1 else ''} (RNAplot draws "
                "nested structures only); the dot-bracket and the files list every pair"
            )
        return RecordResult(record, dot_bracket, drawing, figure, files, notes)


    def fold3d(self, result: RecordResult) -> Path:
        """Write the 3D model of ``result``'s record next to its other files, add it to them with a note
        (mean pLDDT, what it was built from), and return its path; a second call returns the same file.

        The structure model's default mode applies (the A-form floor without a model). Raises
        :class:`InputError` for a record longer than :data:`MAX_3D_LENGTH`.
        """
        from ..fold3d.inference import write_predicted_structures

        record, first = result.record, result.files[0]
        pdb = first.with_suffix(".pdb")
        if pdb in result.files:
            return pdb
        if len(record.sequence) > MAX_3D_LENGTH:
            raise InputError(f"{record.id} is {len(record.sequence):,} nt: the page builds 3D models of up to "
                             f"{MAX_3D_LENGTH} nt; `ssrlm fold3d` folds longer ones")
        model = self.structure_model
        mode = model.config.default_mode if model is not None else "floor"
        source = model.config.secondary_structure_source if model is not None else "viennarna"
        [(_, path, plddt)] = write_predicted_structures(model, [(record.id, record.sequence)], first.parent, mode,
                                                        file_stem=lambda _: first.stem)
        result.files.append(path)
        built_by = f"`{self.structure_model_name}` in mode {mode}" if model is not None else "the A-form floor"
        confidence = "no pLDDT without a 3D model" if model is None else f"mean pLDDT {100 * plddt:.1f}"
        result.notes.append(f"3D model {path.name}: {built_by}, on the {source} secondary structure (which can "
                            f"differ from the one shown here); {confidence}, per residue in the B-factor column")
        return path


def pasted_as_fasta(text: str) -> str:
    """Pasted text as FASTA: FASTA stays as it is; otherwise each non-blank line is one sequence,
    named ``seq1``, ``seq2``, ... as ``ssrlm predict`` names plain sequences given as arguments."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines[0].startswith(">"):
        return text
    return "".join(f">seq{number}\n{line}\n" for number, line in enumerate(lines, start=1))


def _content_size(path: Path, limit: int) -> int:
    """Bytes of ``path``'s content, decompressed when it is gzip, counted up to ``limit`` at most.

    Damaged gzip data is left for the FASTA reader to report.
    """
    with open(path, "rb") as handle:
        opener = gzip.open if handle.read(2) == b"\x1f\x8b" else open
    size = 0
    try:
        with opener(path, "rb") as handle:
            while size < limit and (chunk := handle.read(65536)):
                size += len(chunk)
    except (OSError, EOFError, zlib.error):
        pass
    return min(size, limit)


# --------------------------------------------------------------------------- the page


def build_app(
    model_dir: Path | str | None = None, device: str = "cpu", max_length: int = SERVE_MAX_LENGTH
) -> gr.Blocks:
    """The page for the pair model in ``model_dir`` (default: :func:`~modeling_ssrlm.cli.default_model_dir`)
    on ``device`` (``cpu``, ``cuda`` or ``auto``).

    Creates the server's private temporary folder (removed at exit) and points Gradio's upload cache
    at it. Launch with ``app.launch(**launch_options())``. Raises :class:`InputError` for a model
    folder that does not load.
    """
    from ..fold3d import SSRLMForStructurePrediction
    from ..fold3d.inference import default_model_dir as default_structure_model_dir
    from ..modeling_ssrlm_pair import SSRLMForPairPrediction

    workdir = _private_folder()
    gr = _import_gradio()
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    model = load_model(SSRLMForPairPrediction, folder, _device(device), _pair_model_remedy())
    structure_folder = default_structure_model_dir()
    structure_model = None if structure_folder is None else load_model(
        SSRLMForStructurePrediction, structure_folder, _device(device),
        "set SSRLM_FOLD3D_MODEL to a folder trained with `fold3d.py train`, or unset it for the shipped one")
    predictor = Predictor(model, folder.name, workdir, max_length, structure_model,
                          None if structure_folder is None else Path(structure_folder).name)
    with gr.Blocks(title="ssrlm: RNA secondary structure", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        _page(predictor)
    return app


def _private_folder() -> Path:
    """A new temporary folder for this server's files, also Gradio's upload cache; removed at exit.

    Also turns Gradio's analytics off. Both are environment variables that Gradio reads, partly when it
    is imported, so this runs before ``import gradio``.
    """
    workdir = Path(tempfile.mkdtemp(prefix="ssrlm-serve-")).resolve()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(workdir)
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(workdir / "examples")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


def _import_gradio():
    """``gradio``, or :class:`InputError` saying how to install it (it is the optional ``serve`` extra)."""
    try:
        import gradio
    except ImportError:
        raise InputError("ssrlm serve needs gradio: pip install 'ssrlm[serve]'") from None
    return gradio


def launch_options(host: str | None = None, port: int | None = None) -> dict:
    """Keyword arguments of ``app.launch`` for this page: limits, style, nothing shared.

    ``host`` None keeps Gradio's default, 127.0.0.1 unless ``GRADIO_SERVER_NAME`` is set (as a
    Hugging Face Space sets it).
    """
    import gradio as gr

    return {
        "server_name": host,
        "server_port": port,
        "share": False,
        "max_file_size": MAX_INPUT_BYTES,
        "css": CSS,
        "theme": gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS),
        "footer_links": ["api"],
        "ssr_mode": False,
        "mcp_server": False,
    }


def _page(predictor: Predictor) -> None:
    """The components of the page and their events (inside a ``gr.Blocks`` context)."""
    import gradio as gr

    gr.Markdown(
        "## ssrlm · RNA secondary structure\n"
        f"Model `{predictor.model_name}`. Paste sequences (one per line, or FASTA) or upload a FASTA file: "
        f"up to {MAX_RECORDS} records of up to {predictor.max_length:,} nt. Nothing leaves this server."
    )
    with gr.Row():
        text = gr.Textbox(
            label="Sequences", lines=9, max_lines=12, scale=3, elem_id="ssrlm-sequences", max_length=MAX_INPUT_BYTES,
            placeholder=">tRNA-Phe\nGCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA",
        )  # fmt: skip
        with gr.Column(scale=1, min_width=240):
            upload = gr.File(label="FASTA file", file_types=[".fa", ".fasta", ".fna", ".txt", ".gz"], elem_id="ssrlm-upload")
            run = gr.Button("Predict", variant="primary", elem_id="ssrlm-predict")
    status = gr.HTML(elem_id="ssrlm-status")
    results = gr.State([])
    with gr.Column(visible=False) as result_view:
        record = gr.Dropdown(label="Record", elem_id="ssrlm-record", interactive=True)
        dot_bracket = gr.Textbox(label="Dot-bracket", lines=3, interactive=False, elem_id="ssrlm-dot-bracket", buttons=["copy"])
        notes = gr.Markdown(elem_id="ssrlm-notes")
        with gr.Row():
            drawing = gr.HTML(label="Structure drawing (RNAplot)", elem_id="ssrlm-drawing", show_label=True, container=True)
            with gr.Column():
                figure = gr.Image(
                    label="Pair probabilities", show_label=False, type="filepath", interactive=False,
                    elem_id="ssrlm-map", buttons=["download", "fullscreen"],
                )  # fmt: skip
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="ssrlm-downloads")
                fold = gr.Button(f"3D model (PDB, up to {MAX_3D_LENGTH} nt)", size="sm", elem_id="ssrlm-fold3d")
    view = [dot_bracket, notes, drawing, figure, downloads]

    def predict(text, upload, progress=gr.Progress()):
        started = time.monotonic()
        try:
            found = _predict_request(predictor, text, upload, progress)
        except InputError as error:
            hidden = [_status(str(error), error=True), [], gr.update(choices=[], value=None), gr.update(visible=False)]
            return hidden + [None] * len(view)
        summary = f"{len(found)} record{'s' if len(found) > 1 else ''} predicted in {time.monotonic() - started:.1f} s"
        choices = [(f"{k + 1}. {result.record.id} ({len(result.record.sequence)} nt)", k) for k, result in enumerate(found)]
        return [_status(summary), found, gr.update(choices=choices, value=0), gr.update(visible=True)] + _show(found, 0)

    def fold3d(found, index):
        if not found or index is None:
            return [_status("predict a record first", error=True), found] + _show(found, index)
        started = time.monotonic()
        try:
            path = predictor.fold3d(found[index])
        except InputError as error:
            return [_status(str(error), error=True), found] + _show(found, index)
        message = f"3D model {path.name} of {found[index].record.id} in {time.monotonic() - started:.1f} s"
        return [_status(message), found] + _show(found, index)

    run.click(predict, [text, upload], [status, results, record, result_view] + view, concurrency_limit=1)
    record.input(_show, [results, record], view)
    fold.click(fold3d, [results, record], [status, results] + view, concurrency_limit=1)


def _predict_request(predictor: Predictor, text, upload, progress) -> list[RecordResult]:
    """Read, check and predict one request's records, reporting progress per record."""
    folder = predictor.new_request_folder()
    records = predictor.read(text, upload, folder)
    console = _PageConsole()
    names = FileNames(console)
    found = []
    for k, record in enumerate(records):
        progress((k, len(records)), desc=f"predicting {record.id}", unit="records")
        found.append(predictor.predict(record, folder, names, console))
    return found


def _show(results: list[RecordResult], index: int | None) -> list:
    """The values of the record view for ``results[index]``."""
    if not results or index is None:
        return [None] * 5
    result = results[index]
    notes = "\n".join(f"* {html.escape(note)}" for note in result.notes)
    return [result.dot_bracket.rstrip("\n"), notes, result.drawing.inline(), str(result.figure), [str(path) for path in result.files]]


def _status(message: str, error: bool = False) -> str:
    """The status line: what was done, or why the input was refused."""
    css_class, prefix = ("ssrlm-error", "Input not accepted: ") if error else ("ssrlm-done", "")
    return f'<div class="{css_class}" role="status">{html.escape(prefix + message)}</div>'


def run_server(model_dir: Path, device: str, host: str, port: int, max_length: int) -> None:
    """``ssrlm serve``: build the page, serve it until Ctrl-C or SIGTERM, and print where on standard output."""
    app = build_app(model_dir, device, max_length)
    try:
        app.launch(**launch_options(host, port), prevent_thread_lock=True, quiet=True)
    except OSError:
        raise InputError(
            f"cannot listen on {host}:{port}: the port is taken or the address is not this machine's "
            "(choose another --port or --host)"
        ) from None
    print(f"ssrlm serve: {app.local_url} (model {model_dir}; Ctrl-C to stop)", flush=True)
    _wait_for_stop(app)


def _wait_for_stop(app) -> None:
    """Block until Ctrl-C or SIGTERM, then close the server and return normally (exit code 0), so that
    the private folder is removed at exit."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close()
