"""End-to-end tests of data_scripts/prepare_pretraining.py on a tiny corpus with planted cases."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from script_loader import load_script

from modeling_ssrlm.data.labelling import ViennaRNABackend
from modeling_ssrlm.secondary_structure import parse_dot_bracket

prepare = load_script("data_scripts/prepare_pretraining.py")

_rng = random.Random(11)


def random_seq(length: int, alphabet: str = "ACGU") -> str:
    return "".join(_rng.choice(alphabet) for _ in range(length))


def mutate(sequence: str, position: int) -> str:
    return sequence[:position] + ("A" if sequence[position] != "A" else "C") + sequence[position + 1 :]


NC = [random_seq(n) for n in (40, 45, 50, 55, 60, 65, 70, 75, 80, 42, 48, 52)]
STO = [random_seq(60), random_seq(55)]
OTHER = [random_seq(n, "ACGT") for n in (100, 120, 140, 160, 180, 200, 220)]

NCRNA_FASTA = (
    [(f"nc{i}", seq.lower() if i == 3 else seq) for i, seq in enumerate(NC)]
    + [
        ("dup0", NC[0].replace("U", "T")),  # identical to nc0 after normalisation
        ("bad_x", NC[1][:10] + "X" + NC[1][10:]),  # not a nucleotide
        ("bad_gap", NC[4][:5] + "-" + NC[4][5:]),  # gap character
        ("empty", ""),
        ("short", "ACGUACG"),  # 7 nt < --min-length 10
        ("near8", mutate(NC[8], 40)),  # 79/80 identical to nc8: one of the two is clustered away
        ("iupac", random_seq(20) + "RY" + random_seq(28)),  # IUPAC codes become N
    ]
)
EXPECTED_COUNTS = {
    "ncrna.fa": {
        "is_ncrna": True, "read": 19, "sampled_out": 0, "rejected": {"empty": 1, "invalid_character": 2},
        "too_short": 1, "too_long": 0, "duplicates": 1, "excluded": 1, "clustered_away": 1, "planned": 12,
        "written": 12, "folded": 12, "structure_sources": {"viennarna": 12},
    },
    "family.sto.gz": {
        "is_ncrna": True, "read": 3, "sampled_out": 0, "rejected": {}, "too_short": 0, "too_long": 0,
        "duplicates": 1, "excluded": 0, "clustered_away": 0, "planned": 2, "written": 2, "folded": 2,
        "structure_sources": {"viennarna": 2},
    },
    "other.fa.gz": {
        "is_ncrna": False, "read": 9, "sampled_out": 0, "rejected": {}, "too_short": 0, "too_long": 1,
        "duplicates": 1, "excluded": 0, "clustered_away": 0, "planned": 7, "written": 7, "folded": 0,
        "structure_sources": {},
    },
}  # fmt: skip


def gapped(sequence: str) -> str:
    return sequence[:10] + "..--" + sequence[10:]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, list[str]]:
    """Write the tiny corpus (FASTA, gzipped Stockholm, gzipped FASTA, dot-bracket exclusion set)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "ncrna.fa").write_text("".join(f">{name} test record\n{seq}\n" for name, seq in NCRNA_FASTA))
    stockholm = (
        "# STOCKHOLM 1.0\n#=GF AC   RF99999\n"
        f"sto1 {gapped(STO[0])}\nsto2 {gapped(STO[1])}\nsto_dup5 {gapped(NC[5])}\n//\n"
    )
    (root / "family.sto.gz").write_bytes(gzip.compress(stockholm.encode()))
    other = [(f"o{i}", seq) for i, seq in enumerate(OTHER)] + [("long", random_seq(450, "ACGT")), ("dup_o0", OTHER[0])]
    (root / "other.fa.gz").write_bytes(gzip.compress("".join(f">{n}\n{s}\n" for n, s in other).encode()))
    references = [("ts_near2", mutate(NC[2], 25)), ("ts_random", random_seq(70)), ("ts_modified", "GGPGAAAACCCC")]
    (root / "test_set.dbn").write_text("".join(f">{n}\n{s}\n{'.' * len(s)}\n" for n, s in references))
    return {
        "inputs": [
            "--ncrna",
            str(root / "ncrna.fa"),
            str(root / "family.sto.gz"),
            "--other",
            str(root / "other.fa.gz"),
        ],
        "exclude": ["--exclude", str(root / "test_set.dbn")],
    }


def run_pipeline(corpus: dict, out: Path, *extra: str) -> int:
    options = ["--min-length", "10", "--max-length", "400", "--shard-size", "5", "--seed", "3"]
    return prepare.main([*corpus["inputs"], *corpus["exclude"], *options, "--out", str(out), *extra])


def shard_rows(out: Path) -> list[dict]:
    return [row for path in sorted((out / "train").glob("shard-*.parquet")) for row in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def complete_run(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("complete")
    assert run_pipeline(corpus, out) == 0
    return out


def test_summary_counts_every_step_exactly(complete_run):
    summary = json.loads((complete_run / "summary.json").read_text())
    for source, expected in EXPECTED_COUNTS.items():
        counts = {key: value for key, value in summary["sources"][source].items() if key != "rejected_examples"}
        assert counts == expected, source
    assert summary["total"]["written"] == 21
    assert summary["total"]["structure_sources"] == {"viennarna": 14}
    assert summary["total"]["rejected"] == {"empty": 1, "invalid_character": 2}
    assert summary["shards"] == 5
    assert summary["exclude_references"] == 3
    examples = summary["sources"]["ncrna.fa"]["rejected_examples"]
    assert examples[0].startswith("bad_x: invalid character 'X' at position 10")
    assert examples[2] == "empty: empty sequence"


def test_shards_load_with_datasets_and_hold_the_right_records(complete_run, tmp_path):
    dataset = datasets.load_dataset("parquet", data_dir=str(complete_run), cache_dir=str(tmp_path))["train"]
    assert dataset.features == datasets.Features(
        {
            "id": datasets.Value("string"),
            "sequence": datasets.Value("string"),
            "structure": datasets.Value("string"),
            "is_ncrna": datasets.Value("bool"),
            "source": datasets.Value("string"),
            "structure_source": datasets.Value("string"),
        }
    )
    assert [len(pq.read_table(p)) for p in sorted((complete_run / "train").glob("*.parquet"))] == [5, 5, 5, 5, 1]
    ids = set(dataset["id"])
    assert len(ids & {"nc8", "near8"}) == 1  # one representative of the planted cluster
    expected = {f"nc{i}" for i in range(12)} - {"nc2", "nc8"} | {"iupac", "sto1", "sto2"} | {f"o{i}" for i in range(7)}
    assert ids - {"nc8", "near8"} == expected
    backend = ViennaRNABackend()
    for row in dataset:
        assert set(row["sequence"]) <= set("ACGTN")
        if row["is_ncrna"]:
            assert row["structure"] == backend.fold(row["sequence"]) and row["structure_source"] == "viennarna"
            parse_dot_bracket(row["structure"])  # balanced
            assert len(row["structure"]) == len(row["sequence"])
        else:
            assert row["structure"] == row["structure_source"] == "" and row["source"] == "other.fa.gz"
    by_id = {row["id"]: row for row in dataset}
    assert by_id["nc3"]["sequence"] == NC[3].replace("U", "T")  # lower case normalised
    assert by_id["iupac"]["sequence"][20:22] == "NN"
    assert by_id["sto1"]["sequence"] == STO[0].replace("U", "T") and by_id["sto1"]["source"] == "family.sto.gz"


def test_exclusion_is_listed_with_its_reference(complete_run):
    lines = (complete_run / "excluded.tsv").read_text().splitlines()
    assert lines == ["id\tsource\treference\tidentity", "nc2\tncrna.fa\ttest_set.dbn:ts_near2\t0.980"]


def test_interrupted_run_resumes_to_identical_records(corpus, complete_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert run_pipeline(corpus, out, "--stop-after-shards", "2", "--workers", "2") == 0
    assert "stopped after 2 shard(s)" in capsys.readouterr().out
    done = sorted((out / "train").glob("shard-*.parquet"))
    assert [p.name for p in done] == ["shard-00000.parquet", "shard-00001.parquet"]
    assert not (out / "summary.json").exists()
    (out / "train" / ".shard-00002.parquet.tmp").write_bytes(b"half-written shard of a killed run")
    mtimes = [p.stat().st_mtime_ns for p in done]

    assert run_pipeline(corpus, out) == 0
    assert "resuming from" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in done] == mtimes  # completed shards were not rewritten
    assert shard_rows(out) == shard_rows(complete_run)
    assert json.loads((out / "summary.json").read_text()) == json.loads((complete_run / "summary.json").read_text())


def test_consensus_input_gives_members_their_projected_ss_cons(tmp_path):
    # RF00001's SS_cons: a 4-pair stem (0-3 with 26-29) crossed by the letter pair (5, 32), a pseudoknot.
    # "gap" has a gap in column 0, so (0, 29) is dropped and its positions shift by one; "wobble" closes
    # the stem with G-U; "excluded" is a test sequence. RF00002 has no consensus pair, so its member
    # is folded. The plain ncRNA FASTA repeats "kept": the consensus copy, read first, wins.
    rng = random.Random(3)

    def loop(length: int) -> str:
        return "".join(rng.choice("ACGU") for _ in range(length))

    ss_cons = "<<<<.A" + "." * 20 + ">>>>..a"
    kept = "GGGGAG" + loop(20) + "CCCCAAC"
    gap = "-GGGAG" + loop(20) + "CCCUAAC"
    wobble = "GGGGAG" + loop(20) + "CCCUAAC"
    excluded = "GCGCAA" + loop(27)
    other = loop(40)
    rows = {"kept": kept, "gap": gap, "wobble": wobble, "excluded": excluded}
    stockholm = "# STOCKHOLM 1.0\n#=GF AC   RF00001\n" + "".join(f"{n} {r}\n" for n, r in rows.items())
    stockholm += f"#=GC SS_cons {ss_cons}\n//\n# STOCKHOLM 1.0\n#=GF AC   RF00002\nplain {other}\n"
    stockholm += f"#=GC SS_cons {'.' * len(other)}\n//\n"
    (tmp_path / "seeds.sto").write_text(stockholm)
    (tmp_path / "ncrna.fa").write_text(f">dup_of_kept\n{kept}\n>folded\n{loop(50)}\n")
    (tmp_path / "test.fa").write_text(f">t\n{excluded}\n")
    out = tmp_path / "out"
    assert prepare.main([
        "--ncrna-consensus", str(tmp_path / "seeds.sto"), "--ncrna", str(tmp_path / "ncrna.fa"),
        "--exclude", str(tmp_path / "test.fa"), "--out", str(out), "--shard-size", "3",
    ]) == 0
    rows_by_id = {row["id"]: row for row in shard_rows(out)}
    assert set(rows_by_id) == {"RF00001/kept", "RF00001/gap", "RF00001/wobble", "RF00002/plain", "folded"}
    consensus = "((((.[" + "." * 20 + "))))..]"
    assert rows_by_id["RF00001/kept"]["structure"] == consensus
    assert rows_by_id["RF00001/kept"]["sequence"] == kept.replace("U", "T")
    assert rows_by_id["RF00001/gap"]["structure"] == "(((.[" + "." * 20 + ")))...]"
    assert rows_by_id["RF00001/wobble"]["structure"] == consensus
    assert {i: r["structure_source"] for i, r in rows_by_id.items()} == {
        "RF00001/kept": "rfam_ss_cons", "RF00001/gap": "rfam_ss_cons", "RF00001/wobble": "rfam_ss_cons",
        "RF00002/plain": "viennarna", "folded": "viennarna",
    }
    backend = ViennaRNABackend()
    assert rows_by_id["RF00002/plain"]["structure"] == backend.fold(rows_by_id["RF00002/plain"]["sequence"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources"]["seeds.sto"]["structure_sources"] == {"rfam_ss_cons": 3, "viennarna": 1}
    assert summary["sources"]["seeds.sto"]["excluded"] == 1
    assert summary["sources"]["ncrna.fa"]["duplicates"] == 1
    assert summary["total"]["structure_sources"] == {"rfam_ss_cons": 3, "viennarna": 2}
    assert summary["total"]["folded"] == 2


def test_rerun_with_other_options_refuses_to_mix_corpora(corpus, complete_run, capsys):
    assert run_pipeline(corpus, complete_run, "--seed", "4") == 2
    error = capsys.readouterr().err.strip()
    assert "was made with different seed" in error and "\n" not in error


def test_unreadable_input_is_a_one_line_error(tmp_path, capsys):
    table = tmp_path / "table.csv"
    table.write_text("id,sequence\na,ACGU\n")
    assert prepare.main(["--ncrna", str(table), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "table.csv:1: unrecognised sequence file" in error and "\n" not in error
    assert prepare.main(["--other", str(tmp_path / "missing.fa"), "--out", str(tmp_path / "out")]) == 2
    assert "input file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments",
    [["--min-seq-id", "1.5"], ["--shard-size", "0"], ["--min-length", "50", "--max-length", "20"], []],
)
def test_bad_options_exit_with_code_2(tmp_path, arguments):
    inputs = ["--ncrna", "x.fa"] if arguments else []
    with pytest.raises(SystemExit) as exit_info:
        prepare.parse_args([*inputs, "--out", str(tmp_path), *arguments])
    assert exit_info.value.code == 2


def test_limit_sample_is_seeded_uniform_subset_in_file_order():
    records = list(range(100))
    first, total = prepare.sample(records, 10, random.Random("0:x"))
    again, _ = prepare.sample(records, 10, random.Random("0:x"))
    other, _ = prepare.sample(records, 10, random.Random("1:x"))
    assert total == 100 and first == again != other
    assert len(first) == 10 and first == sorted(set(first))
    assert prepare.sample(records[:5], 10, random.Random(0)) == (records[:5], 5)
    assert prepare.sample(records, None, random.Random(0)) == (records, 100)
