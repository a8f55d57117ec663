"""3D on a given secondary structure: the known-structure source, ``ssrlm fold3d --input-2d`` and its benchmark."""

import gzip
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_ssrlm.cli import main as ssrlm
from modeling_ssrlm.fold3d import SSRLMForStructurePrediction
from modeling_ssrlm.fold3d.geometry import floor_frames
from modeling_ssrlm.fold3d.lddt import lddt
from modeling_ssrlm.fold3d.pdb_io import read_plddt, read_rna_chains
from modeling_ssrlm.fold3d.secondary import KnownStructureSource, get_source, pairs_matrix
from modeling_ssrlm.secondary_structure import format_dot_bracket

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_fold3d_cli import data  # noqa: E402,F401  (the module-scoped chain sets)
from test_fold3d_floor import HAIRPINS, PAIRS, floor_config  # noqa: E402

COEFFICIENTS = [0.4, 0.2, 0.3, -0.05]
GIVEN = [pair for pair in PAIRS if pair != (19, 22)]  # every hairpin loop of at least 3 bases
HAIRPINS_DBN = format_dot_bracket(GIVEN, len(HAIRPINS))[0]


def test_known_source_takes_the_pairs_as_given_and_as_probabilities():
    source = KnownStructureSource({HAIRPINS.lower().replace("u", "t"): GIVEN})  # looked up in RNA spelling
    structure = source(HAIRPINS)
    assert structure.pairs == GIVEN
    np.testing.assert_array_equal(structure.probabilities, pairs_matrix(GIVEN, len(HAIRPINS)))
    assert source(HAIRPINS.replace("U", "T")).pairs == GIVEN
    with pytest.raises(ValueError, match="no known structure for the 5-nt sequence GGGAA"):
        source("GGGAA")


def test_dot_bracket_source_reads_a_file_and_keeps_the_first_structure_of_a_sequence(tmp_path):
    path = tmp_path / "known.dbn.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(f">one\n{HAIRPINS}\n{HAIRPINS_DBN}\n>again\n{HAIRPINS}\n{'.' * len(HAIRPINS)}\n"
                     ">pseudoknot\nGGGAAAGGGAAACCCAAACCC\n(((...[[[...)))...]]]\n")
    source = get_source(f"dot-bracket:{path}")
    assert source.name == f"dot-bracket:{path}" and source(HAIRPINS).pairs == GIVEN
    assert source("GGGAAAGGGAAACCCAAACCC").pairs == [(0, 14), (1, 13), (2, 12), (6, 20), (7, 19), (8, 18)]


def test_dot_bracket_source_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.dbn"
    bad.write_text(">broken\nGGGAAACC\n(((...))\n")
    with pytest.raises(ValueError, match="record 'broken': unclosed opening"):
        get_source(f"dot-bracket:{bad}")
    with pytest.raises(ValueError, match="cannot read dot-bracket structures from"):
        get_source(f"dot-bracket:{tmp_path / 'missing.dbn'}")
    (tmp_path / "short.dbn").write_text(">s\nGGGAAACCC\n(((...)))..\n")
    with pytest.raises(ValueError, match="structure length 11 differs from sequence length 9"):
        get_source(f"dot-bracket:{tmp_path / 'short.dbn'}")
    with pytest.raises(ValueError, match="needs a file"):
        get_source("dot-bracket:")


@pytest.fixture(scope="module")
def floor_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fold3d")
    torch.manual_seed(0)
    config = floor_config(floor_plddt_calibration=COEFFICIENTS, floor_helix_extension=2, default_mode="floor")
    SSRLMForStructurePrediction(config).save_pretrained(folder)
    return folder


def run(capsys, *argv):
    code = ssrlm(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_input_2d_builds_each_record_on_its_own_structure(capsys, floor_model, tmp_path):
    dbn = tmp_path / "in.dbn"
    # the same sequence twice: each record gets its own structure, not the first one's or ViennaRNA's
    dbn.write_text(f">hairpins\n{HAIRPINS}\n{HAIRPINS_DBN}\n>open\n{HAIRPINS}\n{'.' * len(HAIRPINS)}\n")
    code, out, err = run(capsys, "fold3d", str(dbn), "--input-2d", "--model", str(floor_model), "--out", str(tmp_path / "pdb"))
    assert code == 0 and err == "", err
    assert [line.split("\t")[0] for line in out.splitlines()] == ["hairpins", "open"]
    config = SSRLMForStructurePrediction.config_class.from_pretrained(floor_model)
    a, b, c, d = COEFFICIENTS
    for name, pairs in (("hairpins", GIVEN), ("open", [])):
        path = tmp_path / "pdb" / f"{name}.pdb"
        [chain] = read_rna_chains(path.read_text(), path.name)
        expected = floor_frames(HAIRPINS, pairs, config.floor_steps, config.floor_helix_extension).trans.numpy()
        np.testing.assert_allclose(chain.atom("C4'")[0], expected, atol=2e-3)
        # calibrated floor pLDDT, the given state taken as certain: a + b·paired + c·1 + d·log L
        paired = np.isin(np.arange(len(HAIRPINS)), [k for pair in pairs for k in pair])
        np.testing.assert_allclose(read_plddt(path), np.clip(a + b * paired + c + d * math.log(len(HAIRPINS)), 0, 1),
                                   atol=1e-4)


def test_input_2d_reads_standard_input(capsys, floor_model, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f">hairpins\n{HAIRPINS}\n{HAIRPINS_DBN}\n".encode())))
    code, out, err = run(capsys, "fold3d", "-", "--input-2d", "--model", str(floor_model), "--out", str(tmp_path / "pdb"))
    assert code == 0, err
    assert out.startswith("hairpins\tmean pLDDT") and (tmp_path / "pdb" / "hairpins.pdb").is_file()


def test_input_2d_notes_pairs_no_helix_can_hold(capsys, floor_model, tmp_path):
    (tmp_path / "tight.dbn").write_text(">tight\nGGGAAAAACCC\n((.)).(.)..\n")  # (1,3) and (6,8) enclose one base
    code, out, err = run(capsys, "fold3d", str(tmp_path / "tight.dbn"), "--input-2d", "--model", str(floor_model),
                         "--out", str(tmp_path / "pdb"))
    assert code == 0 and out.startswith("tight\t")
    assert err.splitlines() == ["ssrlm fold3d: note: record 'tight': 2 given pair(s) enclose fewer than 3 bases "
                                "(first: 2-4, 1-based); built as given, the chain is broken there"]


def test_input_2d_refuses_bad_inputs_in_one_line_and_keeps_what_was_written(capsys, floor_model, tmp_path):
    out = tmp_path / "pdb"
    mixed = tmp_path / "mixed.dbn"
    mixed.write_text(f">good\n{HAIRPINS}\n{HAIRPINS_DBN}\n>broken\nGGGAAACC\n(((...))\n")
    common = ["--input-2d", "--model", str(floor_model), "--out", str(out)]
    code, _, err = run(capsys, "fold3d", str(mixed), *common)
    assert code == 2
    assert err.splitlines() == ["ssrlm fold3d: error: record 'broken': structure: unclosed opening '(' at position 0 in dot-bracket"]
    assert (out / "good.pdb").is_file()  # written before the bad record: kept
    code, stdout, err = run(capsys, "fold3d", str(mixed), *common, "--skip-invalid", "--overwrite")
    assert code == 0 and "skipped record 'broken'" in err and stdout.count("\n") == 1

    fasta = tmp_path / "plain.fa"
    fasta.write_text(">x\nGGGAAACCC\n")
    for argv, message in ((["fold3d", str(fasta)], "plain.fa is not a valid dot-bracket file (>id, sequence, structure)"),
                          (["fold3d", "GGGAAACCC"], "a plain sequence has no structure; give a dot-bracket file")):
        code, _, err = run(capsys, *argv, *common, "--overwrite")
        assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    # without --input-2d a dot-bracket file is not FASTA: refused, not folded without its structure
    code, _, err = run(capsys, "fold3d", str(mixed), "--model", str(floor_model), "--out", str(out), "--overwrite")
    assert code == 2 and "invalid character '('" in err


def test_given_2d_benchmark_matches_a_direct_computation(data, tmp_path, capsys):  # noqa: F811
    from script_loader import load_script

    from modeling_ssrlm.evaluation.metrics import pair_scores
    from modeling_ssrlm.fold3d.data import load_chains
    from modeling_ssrlm.secondary_structure import parse_dot_bracket

    torch.manual_seed(0)
    config = floor_config(floor_plddt_calibration=COEFFICIENTS, floor_steps=30, floor_helix_extension=2)
    SSRLMForStructurePrediction(config).save_pretrained(tmp_path / "model")
    [chain, _] = load_chains(data / "train.npz")  # train-a has a given structure, train-b none: left out
    structure = "(((...)))....."
    (tmp_path / "given.dbn").write_text(f">a\n{chain.sequence}\n{structure}\n")
    benchmark = load_script("benchmarks/given_2d.py")
    out = tmp_path / "given.json"
    argv = ["--model", str(tmp_path / "model"), "--chains", str(data / "train.npz"), "--structures",
            str(tmp_path / "given.dbn"), "--out", str(out)]
    assert benchmark.main(argv) == 0
    result = json.loads(out.read_text())["sets"][str(data / "train.npz")]
    [row] = result["per_chain"]
    given, reference = parse_dot_bracket(structure), chain.atom("C4'")
    source = get_source("viennarna")(chain.sequence)
    assert row["target"] == chain.name
    assert row["given"]["floor_lddt"] == pytest.approx(lddt(floor_frames(chain.sequence, given, 30, 2).trans.numpy(), *reference), abs=1e-5)
    assert row["source"]["floor_lddt"] == pytest.approx(lddt(floor_frames(chain.sequence, source.pairs, 30, 2).trans.numpy(), *reference), abs=1e-5)
    assert row["f1_source"] == pytest.approx(pair_scores(source.pairs, given)["f1"])
    paired = np.isin(np.arange(len(chain.sequence)), [k for pair in given for k in pair])
    a, b, c, d = COEFFICIENTS
    assert row["given"]["floor_plddt"] == pytest.approx(np.clip(a + b * paired + c + d * math.log(len(paired)), 0, 1).mean(), abs=1e-5)
    # the alternative design: the same floor, the source's probabilities in the confidence
    assert row["given pairs, source probabilities"]["floor_lddt"] == pytest.approx(row["given"]["floor_lddt"])
    summary = result["summary"]
    assert summary["given"]["floor_difference"] == pytest.approx(row["given"]["floor_lddt"] - row["source"]["floor_lddt"])
    assert "| given |" in out.with_suffix(".md").read_text()

    (tmp_path / "unrelated.dbn").write_text(">u\nGGGAAACCC\n(((...)))\n")
    assert benchmark.main([*argv[:5], str(tmp_path / "unrelated.dbn"), "--out", str(out)]) == 2
    assert "has a structure in" in capsys.readouterr().err
