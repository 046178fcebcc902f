"""keras-hub ELECTRA presets both ways: our export loads in keras-hub on every installed Keras backend (no
warnings, outputs within the tanh-GELU difference, tokenizer ids equal ours), and keras-hub presets load here
for export, fine-tuning and pre-training with bit-exact weights."""

import importlib.util
import json
import os
import subprocess
import sys
import unicodedata

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import randomize_weights

from electra_tf import export, weights
from electra_tf.config import ElectraConfig
from electra_tf.formats import keras_hub as keras_hub_format
from electra_tf.models import build_model
from electra_tf.pretrained import load_pretrained, read_config
from electra_tf.pretraining import loop, transfer
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import FastTokenizer, load_vocab, special_token_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
TINY_PRETRAINING = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
# koelectra-small-v3's shape (its 35,000-token vocabulary cut to the sample vocabulary's 2,000).
SMALL = ElectraConfig.from_preset("koelectra-small-v3", vocab_size=len(load_vocab(VOCAB)))
# max |Δ| of sequence_output at koelectra-small-v3's shape, tests/scripts/keras_hub_difference.py (README).
MEASURED_SMALL_GELU_DIFFERENCE = 1.93e-3
BACKENDS = ["tensorflow", "torch", "jax"]


def korean_pair_batch(batch_size=8, max_length=128):
    """Consecutive sample-corpus lines as (A, B) pairs, tokenized and zero-padded."""
    lines = _corpus_lines()
    return FastTokenizer.from_vocab_file(VOCAB).encode_batch_for_model(
        lines[0:2 * batch_size:2], lines[1:2 * batch_size:2], max_length=max_length)


def _corpus_lines():
    with open(CORPUS, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def korean_lines(count=2400, seed=0):
    """The corpus lines, then lines of shuffled corpus words mixed with digits, Latin words, Hanja, emoji,
    ASCII and CJK punctuation, tabs and special tokens (deterministic)."""
    lines = _corpus_lines()
    words = sorted({word for line in lines for word in line.split()})
    extras = ["2024년", "3.5%", "COVID-19", "KoELECTRA", "ELECTRA는", "韓國", "大韓民國", "😀", "ㅋㅋㅋ",
              "ㅠㅠ", "“인용”", "『책』", "(괄호)", "[MASK]", "[SEP]", "[UNK]", "a@b.com", "~", "…", "·", "!?",
              "、", "。"]
    rng = np.random.default_rng(seed)
    while len(lines) < count:
        chosen = [str(word) for word in rng.choice(words, size=int(rng.integers(3, 15)))]
        for _ in range(int(rng.integers(0, 4))):
            chosen.insert(int(rng.integers(0, len(chosen) + 1)), str(rng.choice(extras)))
        separators = rng.choice([" ", " ", " ", "  ", "\t"], size=len(chosen) - 1)
        lines.append(chosen[0] + "".join(sep + word for sep, word in zip(separators, chosen[1:])))
    return lines


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random koelectra-small-shaped discriminator as a transformers directory, exported by the CLI."""
    root = tmp_path_factory.mktemp("keras_hub")
    model = randomize_weights(build_model(SMALL, "discriminator"), seed=3)
    export.export_transformers(model, str(root / "transformers"), vocab_file=VOCAB)
    result = subprocess.run(
        [sys.executable, "-m", "electra_tf.export", f"--input={root / 'transformers'}",
         f"--output_dir={root / 'preset'}", "--format=keras_hub"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tanh approximation of GELU" in result.stderr
    batch = korean_pair_batch()
    return {"model": model, "preset": str(root / "preset"), "batch": batch,
            "ours": model.electra(batch).numpy()}


_CHILD = r"""
import json, logging, sys, warnings
import numpy as np

preset, inputs_path, lines_path, output_path = sys.argv[1:]
records = []
logging.getLogger().addHandler(type("Collect", (logging.Handler,), {"emit": lambda self, r: records.append(
    r.getMessage())})(logging.WARNING))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import keras
    import keras_hub
    backbone = keras_hub.models.ElectraBackbone.from_preset(preset)
    tokenizer = keras_hub.models.ElectraTokenizer.from_preset(preset)
inputs = dict(np.load(inputs_path))
outputs = backbone({"token_ids": inputs["input_ids"], "segment_ids": inputs["token_type_ids"],
                    "padding_mask": inputs["attention_mask"]})
np.save(output_path + ".npy", keras.ops.convert_to_numpy(outputs["sequence_output"]))
ids = [np.asarray(row).tolist() for row in tokenizer(json.load(open(lines_path, encoding="utf-8")))]
json.dump({"backend": keras.backend.backend(), "warnings": [str(w.message) for w in caught] + records,
           "ids": ids}, open(output_path + ".json", "w"))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_hub_loads_the_export_on_each_backend(backend, exported, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    lines = korean_lines()
    np.savez(tmp_path / "inputs.npz", **exported["batch"])
    (tmp_path / "lines.json").write_text(json.dumps(lines, ensure_ascii=False), encoding="utf-8")
    output = str(tmp_path / "output")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, exported["preset"], str(tmp_path / "inputs.npz"), str(tmp_path / "lines.json"),
         output], capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.load(open(output + ".json"))
    assert report["backend"] == backend
    assert report["warnings"] == []
    difference = float(np.abs(np.load(output + ".npy") - exported["ours"]).max())
    # Our exact GELU against keras-hub's tanh approximation: a real but small difference.
    assert 1e-5 < difference <= 2 * MEASURED_SMALL_GELU_DIFFERENCE, difference
    expected = FastTokenizer.from_vocab_file(VOCAB).encode_batch(lines)
    mismatches = [(line, ours, theirs) for line, ours, theirs in zip(lines, expected, report["ids"]) if ours != theirs]
    assert len(lines) >= 2000 and not mismatches, mismatches[:3]


def _keras_hub_output(preset, batch):
    backbone = keras_hub.models.ElectraBackbone.from_preset(preset)
    outputs = backbone({"token_ids": batch["input_ids"], "segment_ids": batch["token_type_ids"],
                        "padding_mask": batch["attention_mask"]})
    return outputs["sequence_output"].numpy()


def test_tanh_gelu_model_matches_to_float_precision(tmp_path):
    config = SMALL.replace(hidden_act="gelu_new", num_hidden_layers=4)
    model = randomize_weights(build_model(config, "encoder"), seed=5)
    export.export_keras_hub(model, str(tmp_path / "preset"))
    batch = korean_pair_batch(batch_size=4, max_length=64)
    difference = np.abs(_keras_hub_output(str(tmp_path / "preset"), batch) - model(batch)["last_hidden_state"])
    assert float(np.max(difference)) < 2e-5


def test_round_trip_through_keras_hub_is_exact(tmp_path):
    model = randomize_weights(build_model(SMALL.replace(num_hidden_layers=3), "discriminator"), seed=7)
    export.export_keras_hub(model, str(tmp_path / "first"), vocab_file=VOCAB)
    assert sorted(os.listdir(tmp_path / "first")) == [
        "assets", "config.json", "metadata.json", "model.weights.h5", "tokenizer.json"]
    assert load_vocab(str(tmp_path / "first" / keras_hub_format.VOCABULARY_PATH)) == load_vocab(VOCAB)
    back = load_pretrained(str(tmp_path / "first"))
    assert back.head_type == "encoder" and back.config.hidden_act == "gelu"
    read = read_config(str(tmp_path / "first"))  # its config.json alone (the domain-adapt recipe's plan)
    for field in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
                  "hidden_dropout_prob", "attention_probs_dropout_prob"):
        assert getattr(back.config, field) == getattr(read, field) == getattr(model.config, field), field
    original, loaded = weights.model_arrays(model), weights.model_arrays(back)
    assert set(loaded) == {name for name in original if name.startswith("electra/")}
    assert max(float(np.abs(original[name] - loaded[name]).max()) for name in loaded) == 0.0
    export.export_keras_hub(back, str(tmp_path / "second"))
    first = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "first"))
    second = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "second"))
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_keras_hub_preset_starts_finetuning_and_pretraining(tmp_path):
    pretraining = PretrainingConfig.from_json_file(TINY_PRETRAINING, {"train_steps": 1})
    vocab = load_vocab(VOCAB)
    discriminator_config = pretraining.discriminator_config(vocab_size=len(vocab))
    source = randomize_weights(build_model(discriminator_config, "encoder"), seed=11)
    preset = str(tmp_path / "preset")
    export.export_keras_hub(source, preset, vocab_file=VOCAB)
    expected = weights.model_arrays(source)
    assert export.find_vocab(preset) == os.path.join(preset, keras_hub_format.VOCABULARY_PATH)

    classifier = load_pretrained(preset, head_type="sequence_classification", labels=["부정", "긍정"])
    run = loop.PretrainingRun(pretraining, discriminator_config, special_token_ids(vocab), str(tmp_path / "run"),
                              tf.distribute.get_strategy())
    transfer.initialize_from(run, preset)
    for model in (classifier, run.pretrainer.discriminator):
        actual = weights.model_arrays(model)
        for name, value in expected.items():
            np.testing.assert_array_equal(actual[name], value, err_msg=name)

    export.export(preset, str(tmp_path / "transformers"), "transformers", None, "discriminator", None, "pytorch")
    assert json.load(open(tmp_path / "transformers" / "config.json"))["architectures"] == ["ElectraModel"]
    assert load_vocab(str(tmp_path / "transformers" / "vocab.txt")) == vocab


@pytest.mark.parametrize("change, message", [
    ({"layer_norm_eps": 1e-5}, r"layer_norm_eps=1e-05 \(keras-hub's ElectraBackbone fixes 1e-12\)"),
    ({"hidden_act": "relu"}, r"hidden_act='relu'"),
    ({"attention_probs_dropout_prob": 0.0}, r"differs from attention_probs_dropout_prob=0.0"),
])
def test_configs_keras_hub_cannot_hold_are_refused(change, message, tmp_path):
    model = build_model(SMALL.replace(num_hidden_layers=1, **change), "encoder")
    with pytest.raises(ValueError, match=message):
        export.export_keras_hub(model, str(tmp_path / "preset"))
    assert not os.listdir(tmp_path)


def test_export_cli_reports_an_unsupported_config_in_one_error_line(run_commands, tmp_path):
    model = build_model(ElectraConfig.from_preset("tiny", layer_norm_eps=1e-6), "encoder")
    export.export_transformers(model, str(tmp_path / "model"))
    result = run_commands({"export": ["-m", "electra_tf.export", f"--input={tmp_path / 'model'}",
                                      f"--output_dir={tmp_path / 'out'}", "--format=keras_hub"]})["export"]
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot export as a keras-hub ElectraBackbone: "
                                                             "layer_norm_eps=1e-06")
    assert not (tmp_path / "out").exists()


def test_other_keras_hub_presets_are_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"registered_name": "keras_hub>BertBackbone", "config": {}}))
    with pytest.raises(ValueError, match=r"preset of keras_hub>BertBackbone, expected keras_hub>ElectraBackbone"):
        load_pretrained(str(tmp_path))


TOKENIZER_EDGE_CASES = {  # the README's list of inputs where keras-hub's ElectraTokenizer differs (keras-hub 0.2x)
    "NFD Hangul": unicodedata.normalize("NFD", "서울"),
    "zero-width space": "서\u200b울",
    "NUL": "서\x00울",
    "no-break space": "서울\u00a0서울",
    "ideographic space": "서울\u3000서울",
    "word over 100 UTF-8 bytes": "가" * 40,
    "special tokens in text": "서울 [MASK]서울[UNK]",
}


def test_our_ids_equal_transformers_on_keras_hub_tokenizer_edge_cases(tmp_path, record_property):
    """Our ids are transformers' (after NFC, which ours applies and transformers does not) on the inputs where
    keras-hub's tokenizer is known to differ; keras-hub's ids are only recorded (a test must not depend on a third
    party staying broken, nor on it being fixed)."""
    import transformers

    model = build_model(SMALL.replace(num_hidden_layers=1), "encoder")
    export.export_transformers(model, str(tmp_path / "transformers"), vocab_file=VOCAB)
    export.export_keras_hub(model, str(tmp_path / "preset"), vocab_file=VOCAB)
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "transformers"))
    theirs = keras_hub.models.ElectraTokenizer.from_preset(str(tmp_path / "preset"))
    ours = FastTokenizer.from_vocab_file(VOCAB)
    keras_hub_differs = []
    for name, text in TOKENIZER_EDGE_CASES.items():
        expected = reference(unicodedata.normalize("NFC", text), add_special_tokens=False)["input_ids"]
        assert ours.encode(text) == expected, name
        if list(np.asarray(theirs(text))) != expected:
            keras_hub_differs.append(name)
    record_property("keras_hub_tokenizer_differs_on", ", ".join(keras_hub_differs) or "none")


def test_preset_export_keeps_files_it_did_not_write_and_refuses_other_directories(tmp_path):
    model = build_model(SMALL.replace(num_hidden_layers=1), "encoder")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no earlier keras-hub ElectraBackbone preset"):
        export.export_keras_hub(model, str(foreign), vocab_file=VOCAB)
    assert os.listdir(foreign) == ["keep.txt"]
    export.export_keras_hub(model, str(tmp_path / "preset"), vocab_file=VOCAB)
    (tmp_path / "preset" / "keep.txt").write_text("mine")
    export.export_keras_hub(model, str(tmp_path / "preset"))  # again, without a vocabulary
    assert sorted(os.listdir(tmp_path / "preset")) == ["config.json", "keep.txt", "metadata.json", "model.weights.h5"]
    assert (tmp_path / "preset" / "keep.txt").read_text() == "mine"
