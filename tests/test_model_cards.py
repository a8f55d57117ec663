"""Model cards (``model_cards/generate_card.py``) of tiny MLM and pair-model folders built here."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from script_loader import load_script

from modeling_ssrlm.configuration_ssrlm import SSRLMConfig
from modeling_ssrlm.modeling_ssrlm import SSRLMForMaskedLM, SSRLMModel
from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction
from modeling_ssrlm.tokenization_ssrlm import SSRLMTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
generate_card = load_script("model_cards/generate_card.py")

# Hand count for hidden 32, 1 layer, 2 heads, intermediate 64, vocabulary 9:
# embeddings 9·32 + attention 4·32·32 + SwiGLU 3·32·64 + 3 RMSNorms 3·32 + MLM head 32·9.
TINY_MLM_PARAMETERS = 9 * 32 + 4 * 32 * 32 + 3 * 32 * 64 + 3 * 32 + 32 * 9
assert TINY_MLM_PARAMETERS == 10_912

RECIPE = {
    "task": "mlm",
    "masking": "ssm",
    "preset": "tiny",
    "datasets": ["rfam-14.9-seed"],
    "steps": 200,
    "tokens": 1_638_400,
    "learning_rate": 0.0001,
    "hardware": "2 CPU cores",
    "seed": 42,
    "warmup_fraction": 0.1,
    "command": "python train_mlm.py --dataset_dir runs/corpus --preset ssrlm-8m --max_steps 200",
}
EVAL = {
    "model": "runs/ss-tiny",
    "model_class": "SSRLMForPairPrediction",
    "threshold": 0.42,
    "postprocessing": {"canonical_only": False, "min_loop_length": 3, "matching": "greedy"},
    "limit": None,
    "splits": {
        "bprna/TS0": {
            "SSR-LM": {"n_sequences": 1305, "precision": 0.701, "recall": 0.652, "f1": 0.668, "f1_shift1": 0.702,
                       "auprc": 0.711, "f1_wobble": 0.123},
            "ViennaRNA (RNAfold MFE)": {"n_sequences": 1305, "precision": 0.55, "recall": 0.6, "f1": 0.6789,
                                        "f1_shift1": 0.61, "auprc": math.nan},
        }
    },
}


def tiny_config() -> SSRLMConfig:
    return SSRLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def save_model(model, folder: Path, **save_kwargs) -> Path:
    model.save_pretrained(folder, **save_kwargs)
    SSRLMTokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory) -> Path:
    return save_model(SSRLMForMaskedLM(tiny_config()), tmp_path_factory.mktemp("cards") / "ssrlm-tiny-mlm")


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory) -> Path:
    return save_model(SSRLMForPairPrediction(tiny_config()), tmp_path_factory.mktemp("cards") / "ssrlm-tiny-ss")


@pytest.fixture
def eval_file(tmp_path) -> Path:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(EVAL))  # NaN is written as NaN, as eval_ss.py's json.dumps does
    return path


def split_card(card: str) -> tuple[dict, str]:
    """(YAML metadata, markdown body) of a card."""
    match = re.fullmatch(r"---\n(.*?)\n---\n(.*)", card, flags=re.DOTALL)
    assert match, "the card must start with a YAML front-matter block"
    return yaml.safe_load(match.group(1)), match.group(2)


def section(body: str, title: str) -> str:
    """The text of one ``## title`` section."""
    return body.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_mlm_card_metadata(mlm_dir, eval_file):
    card = generate_card.render_card(mlm_dir, RECIPE, [eval_file], base_model=None)
    metadata, body = split_card(card)
    assert metadata == {
        "library_name": "transformers",
        "pipeline_tag": "fill-mask",
        "license": "apache-2.0",
        "tags": ["biology", "rna", "rna-language-model", "ssr-lm", "secondary-structure", "masked-language-modeling"],
        "datasets": ["rfam-14.9-seed"],
    }
    assert body.startswith("\n# ssrlm-tiny-mlm\n")


def test_pair_card_metadata_base_model_and_license(pair_dir):
    recipe = {"task": "secondary-structure", "datasets": "bprna/TR0", "base_model": "user/from-recipe"}
    metadata, _ = split_card(generate_card.render_card(pair_dir, recipe, license="mit"))
    assert metadata["pipeline_tag"] == "token-classification"
    assert metadata["license"] == "mit"
    assert metadata["datasets"] == ["bprna/TR0"]
    assert metadata["base_model"] == "user/from-recipe"
    override, _ = split_card(generate_card.render_card(pair_dir, recipe, base_model="user/from-cli"))
    assert override["base_model"] == "user/from-cli"


def test_parameter_count_from_safetensors_header(mlm_dir, pair_dir):
    assert generate_card.count_parameters(mlm_dir) == (TINY_MLM_PARAMETERS, ("F32",))
    pair_parameters = SSRLMForPairPrediction(tiny_config()).num_parameters()
    assert generate_card.count_parameters(pair_dir)[0] == pair_parameters
    details = section(split_card(generate_card.render_card(mlm_dir))[1], "Model details")
    assert "| Parameters | 10,912 (10.9 K), counted from the safetensors header |" in details


def test_parameter_count_of_sharded_weights(tmp_path, pair_dir):
    sharded = save_model(SSRLMForPairPrediction(tiny_config()), tmp_path / "sharded", max_shard_size="100KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    assert len(generate_card.read_model_facts(sharded).weight_files) > 1
    assert generate_card.count_parameters(sharded) == generate_card.count_parameters(pair_dir)


def test_evaluation_table_exact_numbers_and_labels(mlm_dir, eval_file):
    evaluation = section(split_card(generate_card.render_card(mlm_dir, RECIPE, [eval_file]))[1], "Evaluation")
    assert "| Dataset | Method | Sequences | Precision | Recall | F1 (strict) | F1 (±1 shift) | AUPRC |" in evaluation
    assert "| bprna/TS0 | SSR-LM | 1,305 | 0.701 | 0.652 | 0.668 | 0.702 | 0.711 |" in evaluation
    # Three decimals as eval_ss.py prints them; NaN (no true pairs) as a dash.
    assert "| bprna/TS0 | ViennaRNA (RNAfold MFE) | 1,305 | 0.550 | 0.600 | 0.679 | 0.610 | — |" in evaluation
    assert "**F1 (strict)**" in evaluation and "**F1 (±1 shift)**" in evaluation
    assert "`SSRLMForPairPrediction` from `runs/ss-tiny`; decision threshold 0.42" in evaluation
    assert "0.123" not in evaluation  # breakdown metrics are not headline columns


def test_evaluation_table_keeps_only_present_metrics(tmp_path, mlm_dir):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"splits": {"pdb/TS1": {"model": {"f1": 0.5, "f1_shift1": 0.625}}}}))
    table = generate_card.read_eval_table(path)
    assert table.columns == ["Dataset", "Method", "F1 (strict)", "F1 (±1 shift)"]
    assert table.rows == [["pdb/TS1", "model", "0.500", "0.625"]]


def test_recipe_rendered_as_recorded(mlm_dir):
    recipe = section(split_card(generate_card.render_card(mlm_dir, RECIPE))[1], "Training data and recipe")
    for row in ("| Task | mlm |", "| Datasets | rfam-14.9-seed |", "| Optimizer steps | 200 |",
                "| Training tokens | 1,638,400 |", "| Learning rate | 0.0001 |", "| Seed | 42 |",
                "| Hardware | 2 CPU cores |", "| `warmup_fraction` | 0.1 |"):
        assert row in recipe
    assert "```bash\n" + RECIPE["command"] + "\n```" in recipe
    assert "Wall time" not in recipe and "Epochs" not in recipe  # absent fields are not invented


def test_card_without_recipe_or_eval_says_so(mlm_dir):
    metadata, body = split_card(generate_card.render_card(mlm_dir))
    assert "datasets" not in metadata and "base_model" not in metadata
    assert "No training record was given" in section(body, "Training data and recipe")
    assert "No evaluation results were given" in section(body, "Evaluation")


def test_limitations_follow_the_facts(tmp_path, pair_dir):
    report = {**EVAL, "limit": 50}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(report))
    body = split_card(generate_card.render_card(pair_dir, RECIPE, [path]))[1]
    limitations = section(body, "Limitations")
    assert "far smaller than the paper's 650M model" in limitations
    assert "trained on CPU (2 CPU cores)" in limitations
    assert "`eval.json` covers only the first 50 sequences of each split." in limitations
    # The pair folder's config has pair_threshold 0.5, the evaluation used 0.42.
    assert "decision threshold 0.42, but this folder's config has 0.5" in limitations
    assert "only the first 50 sequences of each split" in section(body, "Evaluation")


def test_card_is_deterministic(tmp_path, pair_dir, eval_file):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE))
    first = generate_card.write_card(pair_dir, tmp_path / "a.md", recipe, [eval_file], repo_id="user/tiny")
    second = generate_card.write_card(pair_dir, tmp_path / "b.md", recipe, [eval_file], repo_id="user/tiny")
    assert first.read_bytes() == second.read_bytes()


def test_inputs_found_in_model_folder(tmp_path, eval_file):
    folder = save_model(SSRLMForMaskedLM(tiny_config()), tmp_path / "run")
    (folder / "recipe.json").write_text(json.dumps(RECIPE))
    (folder / "eval.json").write_text(eval_file.read_text())
    card = generate_card.write_card(folder).read_text()
    assert card == generate_card.render_card(folder, RECIPE, [eval_file])


def test_load_snippets_run(mlm_dir, pair_dir, capsys):
    """The card's Python examples work as written (on the local folder, offline)."""
    for folder in (mlm_dir, pair_dir):
        body = split_card(generate_card.render_card(folder, repo_id=str(folder)))[1]
        snippet = re.search(r"```python\n(.*?)```", section(body, "How to load"), flags=re.DOTALL).group(1)
        exec(compile(snippet, f"card of {folder.name}", "exec"), {})
    printed = capsys.readouterr().out.strip()
    assert len(printed) == len("GGGGAAACCCC") and set(printed) <= set(".()[]{}<>")


def test_pair_card_loading_and_remote_code(mlm_dir, pair_dir):
    pair = section(split_card(generate_card.render_card(pair_dir, repo_id="user/ssrlm-tiny-ss"))[1], "How to load")
    assert "from modeling_ssrlm.modeling_ssrlm_pair import SSRLMForPairPrediction" in pair
    assert "hf download user/ssrlm-tiny-ss --local-dir ssrlm-tiny-ss\nssrlm predict --model ssrlm-tiny-ss" in pair
    assert 'get_class_from_dynamic_module("modeling_ssrlm_pair.SSRLMForPairPrediction", "user/ssrlm-tiny-ss")' in pair
    mlm = section(split_card(generate_card.render_card(mlm_dir))[1], "How to load")
    assert 'AutoModelForMaskedLM.from_pretrained("ssrlm-tiny-mlm", trust_remote_code=True)' in mlm


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "is not a model folder: it has no config.json"),
        ({"model_type": "bert", "architectures": ["BertModel"]}, "is not an SSR-LM model"),
        ({"model_type": "ssrlm", "architectures": ["SSRLMForMaskedLM"]}, "has no model.safetensors"),
    ],
)
def test_bad_model_folder(tmp_path, config, message):
    """No config, another model type, or no weights: CardError naming the problem."""
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(generate_card.CardError, match=message):
        generate_card.read_model_facts(tmp_path)


def test_corrupt_weights(tmp_path, mlm_dir):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "config.json").write_text((mlm_dir / "config.json").read_text())
    (folder / "model.safetensors").write_bytes((mlm_dir / "model.safetensors").read_bytes()[:20])
    with pytest.raises(generate_card.CardError, match="cannot read the safetensors header of .*model.safetensors"):
        generate_card.read_model_facts(folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object"),
     ('{"model": "x"}', "has no 'splits' object"),
     ('{"splits": {"a": {"m": {"mcc": 1.0}}}}', "holds none of the metrics")],
)
def test_bad_eval_file(tmp_path, content, message):
    path = tmp_path / "eval.json"
    path.write_text(content)
    with pytest.raises(generate_card.CardError, match=message):
        generate_card.read_eval_table(path)


def test_cli(tmp_path, mlm_dir, eval_file, capsys):
    out = tmp_path / "card.md"
    arguments = [str(mlm_dir), "--eval", str(eval_file), "--out", str(out), "--base-model", "user/base"]
    assert generate_card.main(arguments) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert split_card(out.read_text())[0]["base_model"] == "user/base"
    assert generate_card.main([str(tmp_path), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "no config.json" in error and error.count("\n") == 1


def test_encoder_folder_gets_feature_extraction_tag(tmp_path):
    folder = save_model(SSRLMModel(tiny_config()), tmp_path / "encoder")
    metadata, body = split_card(generate_card.render_card(folder))
    assert metadata["pipeline_tag"] == "feature-extraction"
    assert "AutoModelForMaskedLM" not in section(body, "How to load")


def test_pair_card_names_the_vienna_decoder_and_its_passes(tmp_path):
    config = tiny_config()
    config.pair_decoder, config.pair_threshold, config.pair_noncanonical_threshold = "vienna_mfe", 0.4, 0.3
    folder = save_model(SSRLMForPairPrediction(config), tmp_path / "ssrlm-tiny-vienna")
    _, body = split_card(generate_card.render_card(folder, {}))
    assert (
        "| Decoder | `vienna_mfe`: ViennaRNA MFE structure with the probabilities as soft constraints, then crossing "
        "pairs (pseudoknots) above the decision threshold, then non-canonical pairs above 0.3 |"
    ) in body
    config.pair_noncanonical_placement, config.pair_canonical_only = "stacked", True
    stacked = save_model(SSRLMForPairPrediction(config), tmp_path / "ssrlm-tiny-stacked")
    _, body = split_card(generate_card.render_card(stacked, {}))
    assert "then non-canonical pairs above 0.3 that stack on a decoded pair (helix ends, 1×1 loops) |" in body
    assert "| Post-processing | canonical pairs only (AU, GC, GU) but for the non-canonical pass; pairs with j − i > 3" in body
    config.pair_decoder = "threshold"
    plain = save_model(SSRLMForPairPrediction(config), tmp_path / "ssrlm-tiny-threshold")
    assert "| Decoder |" not in split_card(generate_card.render_card(plain, {}))[1]
