"""Exact parity with transformers' ELECTRA classes, both directions, at KoELECTRA-small-v3 shapes."""

import logging
import os

import h5py
import numpy as np
import pytest
import transformers
from conftest import padded_pair_batch, randomize_weights
from safetensors.numpy import load_file

from electra_tf.config import ElectraConfig
from electra_tf.export import export_transformers
from electra_tf.models import build_model
from electra_tf.pretrained import load_pretrained

HEADS = {
    "encoder": ("TFElectraModel", "ElectraModel", ["last_hidden_state"]),
    "discriminator": ("TFElectraForPreTraining", "ElectraForPreTraining", ["logits"]),
    "generator": ("TFElectraForMaskedLM", "ElectraForMaskedLM", ["logits"]),
    "sequence_classification": ("TFElectraForSequenceClassification", "ElectraForSequenceClassification",
                                ["logits"]),
    "token_classification": ("TFElectraForTokenClassification", "ElectraForTokenClassification", ["logits"]),
    "question_answering": ("TFElectraForQuestionAnswering", "ElectraForQuestionAnswering",
                           ["start_logits", "end_logits"]),
}


@pytest.fixture(scope="module")
def config():
    return ElectraConfig.from_preset("koelectra-small-v3").with_labels(["부정", "중립", "긍정"])


@pytest.fixture(scope="module")
def batch(config):
    return padded_pair_batch(config.vocab_size)


@pytest.fixture
def transformers_warnings(caplog):
    transformers.logging.enable_propagation()
    transformers.logging.set_verbosity_warning()
    caplog.set_level(logging.WARNING, logger="transformers")
    yield caplog
    transformers.logging.disable_propagation()


def _max_difference(ours, theirs, names):
    worst = 0.0
    for name in names:
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        assert a.shape == b.shape, (name, a.shape, b.shape)
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


@pytest.mark.parametrize("head", sorted(HEADS))
def test_export_loads_in_transformers_tf_with_same_outputs(head, config, batch, tmp_path, transformers_warnings):
    model = randomize_weights(build_model(config, head), seed=hash(head) % 1000)
    export_transformers(model, str(tmp_path))
    tf_class, _, outputs = HEADS[head]
    theirs = getattr(transformers, tf_class).from_pretrained(str(tmp_path))
    messages = " ".join(record.getMessage() for record in transformers_warnings.records)
    assert "were not used" not in messages and "newly initialized" not in messages, messages
    difference = _max_difference(model(batch), theirs(batch), outputs)
    assert difference <= 1e-5, f"{head}: max |diff| {difference}"


@pytest.mark.parametrize("head", sorted(HEADS))
def test_import_from_transformers_tf_gives_same_outputs(head, config, batch, tmp_path):
    tf_class, _, outputs = HEADS[head]
    hf_config = transformers.ElectraConfig(**config.replace(architectures=None).to_dict())
    if head == "question_answering":
        hf_config.num_labels = 2
    theirs = getattr(transformers, tf_class)(hf_config)
    theirs(theirs.dummy_inputs)
    rng = np.random.default_rng(7)
    for variable in theirs.weights:
        variable.assign(rng.normal(0, 0.05, variable.shape) + (1.0 if "gamma" in variable.name else 0.0))
    theirs.save_pretrained(str(tmp_path))
    ours = load_pretrained(str(tmp_path))
    assert ours.head_type == head
    difference = _max_difference(ours(batch), theirs(batch), outputs)
    assert difference <= 1e-5, f"{head}: max |diff| {difference}"


@pytest.mark.parametrize("head", ["encoder", "discriminator", "generator", "sequence_classification"])
def test_export_loads_in_transformers_pytorch(head, config, batch, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch (pip install torch==2.13.0)")
    model = randomize_weights(build_model(config, head), seed=3)
    export_transformers(model, str(tmp_path))
    _, torch_class, outputs = HEADS[head]
    theirs = getattr(transformers, torch_class).from_pretrained(str(tmp_path / "pytorch")).eval()
    with torch.no_grad():
        result = theirs(**{key: torch.tensor(value, dtype=torch.long) for key, value in batch.items()})
    theirs_np = {name: getattr(result, name).numpy() for name in outputs}
    difference = _max_difference(model(batch), theirs_np, outputs)
    assert difference <= 1e-4, f"{head}: max |diff| {difference}"


def _read_dir(path):
    with h5py.File(os.path.join(path, "tf_model.h5")) as handle:
        h5 = {}
        handle.visititems(lambda name, item: h5.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return h5, load_file(os.path.join(path, "pytorch", "model.safetensors"))


@pytest.mark.parametrize("head", ["generator", "token_classification"])
def test_round_trip_is_exact(head, config, tmp_path):
    model = randomize_weights(build_model(config, head), seed=11)
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    export_transformers(model, first)
    export_transformers(load_pretrained(first), second)
    for one, two in zip(_read_dir(first), _read_dir(second)):
        assert one.keys() == two.keys()
        for name in one:
            np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert ElectraConfig.from_json_file(first + "/config.json") == ElectraConfig.from_json_file(
        second + "/config.json")


def test_import_from_safetensors_only(config, batch, tmp_path):
    model = randomize_weights(build_model(config, "discriminator"), seed=5)
    export_transformers(model, str(tmp_path), pytorch_subfolder="")
    os.remove(tmp_path / "tf_model.h5")
    loaded = load_pretrained(str(tmp_path))
    np.testing.assert_array_equal(loaded(batch)["logits"], model(batch)["logits"])
