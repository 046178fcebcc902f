"""The one `--hparams` parser shared by pre-training and fine-tuning."""

import json
import os

import pytest

from electra_tf.finetuning.config import load_hparams
from electra_tf.hparams import parse_hparams
from electra_tf.pretraining.config import PretrainingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN_CONFIG = os.path.join(ROOT, "configs", "pretrain", "koelectra-small-v3.json")
FINETUNE_CONFIG = os.path.join(ROOT, "configs", "finetune", "koelectra-small-v3.json")


def test_inline_json_and_file_give_the_same_overrides(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"train_steps": 7, "learning_rate": 1e-4}), encoding="utf-8")
    inline = PretrainingConfig.from_json_file(PRETRAIN_CONFIG, '{"train_steps": 7, "learning_rate": 1e-4}')
    from_file = PretrainingConfig.from_json_file(PRETRAIN_CONFIG, str(path))
    assert inline == from_file and (inline.train_steps, inline.learning_rate) == (7, 1e-4)
    path.write_text(json.dumps({"num_train_epochs": 9}), encoding="utf-8")
    assert load_hparams(FINETUNE_CONFIG, "nsmc", str(path)).num_train_epochs == 9


@pytest.mark.parametrize("load", [
    lambda overrides: PretrainingConfig.from_json_file(PRETRAIN_CONFIG, overrides),
    lambda overrides: load_hparams(FINETUNE_CONFIG, "nsmc", overrides),
], ids=["pretraining", "finetuning"])
def test_unknown_override_is_blamed_on_the_flag_not_the_config_file(load):
    with pytest.raises(ValueError, match="unknown hyperparameter") as caught:
        load('{"learning_rte": 1e-4}')
    assert str(caught.value).startswith("--hparams:") and "koelectra" not in str(caught.value)


def test_unknown_config_file_key_is_blamed_on_the_file(tmp_path):
    path = tmp_path / "preset.json"
    path.write_text(json.dumps({"train_stepz": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown hyperparameter") as caught:
        PretrainingConfig.from_json_file(str(path), '{"train_steps": 3}')
    assert str(caught.value).startswith(str(path))


def test_bad_values(tmp_path):
    known = {"a"}
    assert parse_hparams(None, known) == {} and parse_hparams("", known) == {}
    assert parse_hparams({"a": 1}, known) == {"a": 1}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_hparams("{a: 1}", known)
    with pytest.raises(ValueError, match="must be a JSON object"):
        parse_hparams("[1]", known)
    with pytest.raises(FileNotFoundError, match="--hparams file .*missing.json"):
        parse_hparams(str(tmp_path / "missing.json"), known)
