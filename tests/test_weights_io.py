"""TF1 checkpoints, config round trips, bad input, mixed precision and the export CLI."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import padded_pair_batch, randomize_weights

from electra_tf import weights
from electra_tf.config import PRESETS, ElectraConfig
from electra_tf.export import export_transformers
from electra_tf.formats.tf1_checkpoint import tf1_name, write_tf1_checkpoint
from electra_tf.models import build_model
from electra_tf.pretrained import load_pretrained

VOCAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sample_vocab",
                     "vocab.txt")
SMALL = ElectraConfig(vocab_size=300, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                      num_attention_heads=1, intermediate_size=128, max_position_embeddings=64)


def _original_checkpoint(tmp_path, untied=False):
    """A checkpoint with google-research/electra's variable names: discriminator, generator, optimizer slots."""
    discriminator = randomize_weights(build_model(SMALL, "discriminator"), seed=1)
    generator_config = SMALL.replace(hidden_size=64, intermediate_size=256, num_hidden_layers=1)
    generator = randomize_weights(build_model(generator_config, "generator"), seed=2)
    if not untied:  # the original shares the embedding block
        for name, value in weights.model_arrays(discriminator).items():
            if name.startswith("electra/embeddings/"):
                generator.hf_weights()[name].assign(value)
    variables = {}
    for network, model in (("discriminator", discriminator), ("generator", generator)):
        for name, value in weights.model_arrays(model).items():
            original = tf1_name(name, network, untied)
            variables[original] = value
            variables[original + "/adam_m"] = np.zeros_like(value)
    variables["global_step"] = np.array(1000, dtype=np.int64)
    prefix = str(tmp_path / "model.ckpt-1000")
    write_tf1_checkpoint(variables, prefix)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-1000"\n')
    return prefix, discriminator, generator


@pytest.mark.parametrize("untied", [False, True])
def test_original_tf1_checkpoint_imports_both_networks(tmp_path, untied):
    prefix, discriminator, generator = _original_checkpoint(tmp_path, untied)
    batch = padded_pair_batch(SMALL.vocab_size)
    loaded = load_pretrained(str(tmp_path))  # the directory: latest checkpoint
    assert loaded.head_type == "discriminator"
    assert loaded.config.num_attention_heads == 1 and loaded.config.num_hidden_layers == 2
    np.testing.assert_array_equal(loaded(batch)["logits"], discriminator(batch)["logits"])
    loaded_generator = load_pretrained(prefix, network="generator")
    assert loaded_generator.config.num_hidden_layers == 1
    np.testing.assert_array_equal(loaded_generator(batch)["logits"], generator(batch)["logits"])


def test_original_names_follow_the_original_scopes():
    assert tf1_name("electra/encoder/layer_._3/attention/self/query/kernel:0", "discriminator") == \
        "electra/encoder/layer_3/attention/self/query/kernel"
    assert tf1_name("electra/encoder/layer_._0/output/LayerNorm/gamma:0", "generator") == \
        "generator/encoder/layer_0/output/LayerNorm/gamma"
    assert tf1_name("electra/embeddings/word_embeddings/weight:0", "generator") == \
        "electra/embeddings/word_embeddings"
    assert tf1_name("electra/embeddings_project/kernel:0", "generator") == "generator/embeddings_project/kernel"
    assert tf1_name("discriminator_predictions/dense_prediction/bias:0", "discriminator") == \
        "discriminator_predictions/dense_1/bias"
    assert tf1_name("generator_lm_head/bias:0", "generator") == "generator_predictions/output_bias"


def test_config_json_round_trip_is_lossless(tmp_path):
    values = ElectraConfig.from_preset("koelectra-base-v3").to_dict()
    values.update({"architectures": ["ElectraForTokenClassification"], "id2label": {"0": "O", "1": "PER-B"},
                   "label2id": {"O": 0, "PER-B": 1}, "some_future_field": [1, 2], "torch_dtype": "float32"})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    config = ElectraConfig.from_json_file(str(path))
    assert config.num_labels == 2 and config.id2label[1] == "PER-B"
    config.to_json_file(str(tmp_path / "again.json"))
    assert json.loads((tmp_path / "again.json").read_text()) == values


def test_presets_have_published_shapes_and_sources():
    assert ElectraConfig.from_preset("koelectra-small-v3").vocab_size == 35000
    assert ElectraConfig.from_preset("kcelectra-base").vocab_size == 50135
    assert ElectraConfig.from_preset("dialog-koelectra-small").max_position_embeddings == 128
    large = ElectraConfig.from_preset("google-electra-large")
    assert (large.hidden_size, large.num_hidden_layers, large.num_attention_heads) == (1024, 24, 16)
    assert all(preset["source"] for preset in PRESETS.values())
    with pytest.raises(ValueError, match="Unknown preset 'koelectra-huge'"):
        ElectraConfig.from_preset("koelectra-huge")


def test_shape_mismatch_names_the_weight_and_both_shapes(tmp_path):
    export_transformers(build_model(SMALL, "discriminator"), str(tmp_path / "model"))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["intermediate_size"] = 96
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"intermediate/dense/kernel:0' has shape \(64, 128\) .* \(64, 96\)"):
        load_pretrained(str(tmp_path / "model"))


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_pretrained(str(tmp_path / "nowhere"))
    (tmp_path / "config.json").write_text(json.dumps(SMALL.to_dict()))
    with pytest.raises(FileNotFoundError, match="no weights: expected tf_model.h5"):
        load_pretrained(str(tmp_path))


def test_failed_export_keeps_the_earlier_export(tmp_path):
    model = randomize_weights(build_model(SMALL, "discriminator"), seed=4)
    target = str(tmp_path / "export")
    export_transformers(model, target)
    before = (tmp_path / "export" / "tf_model.h5").read_bytes()
    with pytest.raises(FileNotFoundError):
        export_transformers(model, target, vocab_file=str(tmp_path / "no_vocab.txt"))
    assert (tmp_path / "export" / "tf_model.h5").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["export"]  # no temporary directory left behind


def test_export_keeps_files_it_did_not_write_and_refuses_other_directories(tmp_path):
    model = build_model(SMALL, "discriminator")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no earlier transformers model"):
        export_transformers(model, str(foreign))
    assert os.listdir(foreign) == ["keep.txt"]
    target = tmp_path / "export"
    export_transformers(model, str(target), vocab_file=VOCAB)
    (target / "keep.txt").write_text("mine")
    (target / "pytorch" / "notes.md").write_text("mine too")
    export_transformers(model, str(target), pytorch_subfolder="")  # no vocabulary, weights at the root
    names = sorted(os.path.relpath(os.path.join(folder, name), target) for folder, _, files in os.walk(target)
                   for name in files)
    assert names == ["config.json", "keep.txt", "model.safetensors", "pytorch/notes.md", "tf_model.h5"]
    with pytest.raises(ValueError, match="--pytorch_subfolder='../out' must be a folder inside"):
        export_transformers(model, str(target), pytorch_subfolder="../out")
    assert sorted(os.listdir(tmp_path)) == ["export", "foreign"]


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "float32"])
def test_mixed_precision_and_xla_run(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(SMALL, "discriminator")
        batch = padded_pair_batch(SMALL.vocab_size)
        eager = model(batch)["logits"]
        compiled = tf.function(lambda inputs: model(inputs)["logits"], jit_compile=True)(batch)
        assert eager.dtype == tf.float32 and np.isfinite(eager.numpy()).all()
        tolerance = 5e-2 if policy == "mixed_bfloat16" else 1e-5
        np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=tolerance)
        if policy == "mixed_bfloat16":
            assert model.electra.transformer_layers[0].compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_export_cli_converts_an_original_checkpoint(tmp_path):
    _original_checkpoint(tmp_path / "original")
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "electra_tf.export", f"--input={tmp_path / 'original'}", f"--output_dir={output}",
         "--network=generator"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["ElectraForMaskedLM"] and config["num_hidden_layers"] == 1
    assert (output / "tf_model.h5").exists() and (output / "pytorch" / "model.safetensors").exists()
