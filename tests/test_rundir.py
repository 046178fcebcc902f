"""A pre-training run directory: configs round-trip, and one network's weights read without the trainer."""

import os

import numpy as np
import pytest
import tensorflow as tf

from electra_tf import rundir, weights
from electra_tf.pretrained import detect_source, load_pretrained
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.model import ElectraPretrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    config = PretrainingConfig.from_json_file(TINY)
    discriminator_config = config.discriminator_config(vocab_size=300)
    pretrainer = ElectraPretrainer(config, discriminator_config, special_ids={})
    rng = np.random.default_rng(3)
    for variable in pretrainer.trainable_variables:  # distinct values, so a wrong mapping cannot pass
        variable.assign(rng.normal(0, 0.05, variable.shape).astype("float32"))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    tf.train.Checkpoint(pretrainer=pretrainer).save(os.path.join(model_dir, "ckpt"))
    return model_dir, pretrainer


@pytest.mark.parametrize("network", rundir.NETWORKS)
def test_read_network_gives_the_trainers_weights(run_dir, network):
    model_dir, pretrainer = run_dir
    config, arrays = rundir.read_network(model_dir, network)
    expected = weights.model_arrays(getattr(pretrainer, network))
    built = getattr(pretrainer, network).config
    for field in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "intermediate_size"):
        assert getattr(config, field) == getattr(built, field), field
    assert sorted(arrays) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)


def test_a_run_directory_loads_as_a_model(run_dir):
    model_dir, pretrainer = run_dir
    assert detect_source(model_dir) == "pretraining"
    model = load_pretrained(model_dir, network="generator")
    assert model.head_type == "generator"
    inputs = pretrainer.generator.dummy_inputs(batch_size=2, sequence_length=6)
    np.testing.assert_allclose(model(inputs)["logits"], pretrainer.generator(inputs)["logits"], atol=1e-6)


def test_configs_round_trip(tmp_path):
    config = PretrainingConfig.from_json_file(TINY, {"train_steps": 7})
    discriminator_config = config.discriminator_config(vocab_size=123)
    rundir.save_run_configs(str(tmp_path), config, discriminator_config)
    read_config, read_discriminator = rundir.read_run_configs(str(tmp_path))
    assert read_config == config
    assert read_discriminator.to_dict() == {**discriminator_config.to_dict(), "model_type": "electra"}
    assert not rundir.is_pretraining_dir(str(tmp_path))  # no checkpoint yet
    with pytest.raises(ValueError, match="network must be one of"):
        rundir.network_config(str(tmp_path), "critic")
