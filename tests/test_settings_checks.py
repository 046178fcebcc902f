"""One spelling per option (the older spellings accepted as aliases, never both at once), and every setting of
both configs range-checked with one error naming the key and where its value came from, through the loaders
and through the real command lines (nothing left in the output directory)."""

import dataclasses
import json
import os

import pytest

from electra_tf import hparams as hparams_lib
from electra_tf.finetuning.config import FinetuneHparams, load_hparams
from electra_tf.pretraining.config import PretrainingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
PRETRAIN_TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
FINETUNE_TINY = os.path.join(ROOT, "configs", "finetune", "tiny.json")


@pytest.mark.parametrize("alias,name,value", [("weight_decay", "weight_decay_rate", 0.03),
                                              ("max_grad_norm", "clip_norm", 0.5),
                                              ("logging_steps", "log_steps", 7),
                                              ("save_steps", "save_checkpoints_steps", 9)])
def test_older_spellings_are_aliases_in_both_configs(alias, name, value, tmp_path):
    finetune = load_hparams(FINETUNE_TINY, "nsmc", {alias: value})
    pretrain = PretrainingConfig.from_json_file(PRETRAIN_TINY, {alias: value})
    for config in (finetune, pretrain):
        assert getattr(config, name) == value and getattr(config, alias) == value
        assert name in dataclass_keys(config) and alias not in dataclass_keys(config)
    path = tmp_path / "old.json"
    path.write_text(json.dumps({alias: value}), encoding="utf-8")
    assert getattr(load_hparams(str(path)), name) == value


def dataclass_keys(config):
    return set(json.loads(json.dumps(config.__dict__, default=str)))


@pytest.mark.parametrize("load", [lambda o: load_hparams(FINETUNE_TINY, "nsmc", o),
                                  lambda o: PretrainingConfig.from_json_file(PRETRAIN_TINY, o)],
                         ids=["finetuning", "pretraining"])
def test_both_spellings_at_once_are_rejected_naming_the_place(load):
    with pytest.raises(ValueError, match=r"^--hparams: 'weight_decay' and 'weight_decay_rate' are one setting"):
        load('{"weight_decay": 0.1, "weight_decay_rate": 0.1}')


def test_both_spellings_in_one_config_file_name_the_file(tmp_path):
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"log_steps": 2, "logging_steps": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="both.json: 'logging_steps' and 'log_steps' are one setting"):
        load_hparams(str(path))


def test_a_bad_value_under_an_older_spelling_is_named_as_written():
    with pytest.raises(ValueError, match=r"^--hparams: hparams save_steps \(save_checkpoints_steps\) must be"):
        load_hparams(None, None, {"save_steps": 0})


def test_a_later_place_may_respell_an_earlier_setting(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"weight_decay": 0.2}), encoding="utf-8")
    assert load_hparams(str(path), None, {"weight_decay_rate": 0.3}).weight_decay_rate == 0.3


FINETUNE_BAD = [("learning_rate", -1), ("learning_rate", 0), ("train_batch_size", 0), ("train_batch_size", 1.5),
                ("eval_batch_size", 0), ("num_train_epochs", 0), ("max_seq_length", 0),
                ("warmup_proportion", 1.5), ("warmup_proportion", -0.1), ("weight_decay_rate", -0.1),
                ("adam_epsilon", 0), ("clip_norm", -1), ("lr_decay_power", -1), ("layerwise_lr_decay", 0),
                ("layerwise_lr_decay", 1.2), ("hidden_dropout_prob", 1.0), ("attention_probs_dropout_prob", -0.1),
                ("classifier_dropout", 1), ("max_steps_per_epoch", 0), ("log_steps", 0),
                ("save_checkpoints_steps", 0), ("steps_per_execution", 0), ("bucket_width", -1),
                ("doc_stride", 0), ("max_query_length", 0), ("max_answer_length", 0), ("n_best_size", 0),
                ("adam_bias_correction", 1), ("seed", "x"), ("warmup_steps", -1), ("learning_rate", "1e-4")]
PRETRAIN_BAD = [("learning_rate", -1), ("train_batch_size", 0), ("train_steps", 0), ("max_seq_length", 0),
                ("mask_prob", 0), ("mask_prob", 1), ("mask_token_prob", 1.5), ("temperature", 0),
                ("generator_hidden_size", 0), ("generator_layers", -1), ("gen_weight", -1), ("disc_weight", -1),
                ("warmup_steps", -1), ("weight_decay_rate", -1), ("adam_epsilon", 0), ("clip_norm", -1),
                ("save_checkpoints_steps", 0), ("keep_checkpoint_max", 0), ("log_steps", 0),
                ("steps_per_execution", 0), ("max_predictions_per_seq", 0), ("layerwise_lr_decay", 0.8),
                ("keep_checkpoint_every_n_steps", -1), ("disallow_correct", "yes"), ("model_overrides", [])]


@pytest.mark.parametrize("key,value", FINETUNE_BAD)
def test_every_finetuning_setting_is_range_checked_naming_key_and_source(key, value):
    with pytest.raises(ValueError) as caught:
        load_hparams(FINETUNE_TINY, "nsmc", {key: value})
    assert str(caught.value).startswith("--hparams: ") and key in str(caught.value), caught.value


@pytest.mark.parametrize("key,value", PRETRAIN_BAD)
def test_every_pretraining_setting_is_range_checked_naming_key_and_source(key, value):
    with pytest.raises(ValueError) as caught:
        PretrainingConfig.from_json_file(PRETRAIN_TINY, {key: value})
    assert str(caught.value).startswith("--hparams: ") and key in str(caught.value), caught.value


def test_a_bad_value_in_a_config_file_names_the_file_and_its_task_section(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"learning_rate": 1e-4, "tasks": {"nsmc": {"num_train_epochs": 0}}}), "utf-8")
    with pytest.raises(ValueError, match=r"bad.json tasks.nsmc: hparams num_train_epochs must be an integer >= 1"):
        load_hparams(str(path), "nsmc")
    path.write_text(json.dumps({"train_steps": -5}), "utf-8")
    with pytest.raises(ValueError, match=r"bad.json: hparams train_steps"):
        PretrainingConfig.from_json_file(str(path))


def test_every_field_of_both_configs_has_a_range_check():
    for config in (FinetuneHparams, PretrainingConfig):
        unchecked = [field.name for field in dataclasses.fields(config) if hparams_lib.CHECK not in field.metadata]
        assert not unchecked, (config, unchecked)
        assert config().to_dict() if config is FinetuneHparams else config()  # the defaults pass their checks


def test_a_field_without_a_check_is_refused():
    @dataclasses.dataclass
    class Unchecked(hparams_lib.OptimizerSettings):
        extra: int = 3

    with pytest.raises(TypeError, match="Unchecked.extra has no range check"):
        Unchecked()


def test_warmup_is_steps_or_a_proportion_and_a_later_place_switches_it():
    assert load_hparams(FINETUNE_TINY, "nsmc", {"warmup_steps": 3}).resolved_warmup_steps(100) == 3
    assert load_hparams(None, None, {"warmup_proportion": 0.1}).resolved_warmup_steps(100) == 10
    assert PretrainingConfig.from_json_file(PRETRAIN_TINY, {"warmup_proportion": 0.5}).resolved_warmup_steps(
        10) == 5
    with pytest.raises(ValueError, match="--hparams: .*warmup_proportion and warmup_steps"):
        load_hparams(None, None, {"warmup_proportion": 0.1, "warmup_steps": 3})


CLI_CASES = [
    ("finetuning", '{"learning_rate": -1}', "learning_rate must be a number > 0, got -1"),
    ("finetuning", '{"train_batch_size": 0}', "train_batch_size must be an integer >= 1, got 0"),
    ("finetuning", '{"num_train_epochs": 0}', "num_train_epochs must be an integer >= 1, got 0"),
    ("pretraining", '{"train_steps": 0}', "train_steps must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize("command,overrides,message", CLI_CASES)
def test_the_command_line_ends_a_bad_setting_with_one_error_line_and_writes_nothing(command, overrides, message,
                                                                                    run_commands, tmp_path):
    output = tmp_path / "out"
    if command == "finetuning":
        arguments = ["electra_tf.finetuning", "--task=nsmc", f"--config={FINETUNE_TINY}",
                     f"--init_checkpoint={tmp_path}", f"--data_dir={tmp_path}", f"--output_dir={output}"]
    else:
        arguments = ["electra_tf.pretraining", f"--config={PRETRAIN_TINY}", f"--vocab={VOCAB}",
                     f"--data_dir={tmp_path}", f"--model_dir={output}"]
    result = run_commands({command: ["-m", *arguments, f"--hparams={overrides}"]})[command]
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and last == f"error: --hparams: hparams {message}", result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not output.exists()
