"""Fine-tuning defaults that learn, and the guard for those that do not: every shipped config loads (unknown
keys rejected), the original ELECTRA recipe's values, the tiny config's learning rate, and the warning when
the dev predictions collapse to one class."""

import glob
import json
import logging
import os

import pytest
from support import fixture_dir

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.tasks import get_task
from electra_tf.finetuning.tasks.classification import ClassificationExample
from electra_tf.finetuning.run import finetune, one_class_warning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "finetune", "*.json")))
TOPICS = ["날씨", "경제", "스포츠"]


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_shipped_config_loads_for_each_of_its_tasks(path, tmp_path):
    document = json.load(open(path, encoding="utf-8"))
    for task in [None, *document.get("tasks", {})]:
        hparams = load_hparams(path, task)
        assert hparams.learning_rate > 0 and hparams.num_train_epochs >= 1
    assert document.get("source"), f"{path} says nowhere where its values come from"
    misspelt = tmp_path / os.path.basename(path)
    misspelt.write_text(json.dumps({**document, "learnig_rate": 1e-4}))
    with pytest.raises(ValueError, match=rf"{misspelt.name}: unknown hyperparameter\(s\) \['learnig_rate'\]"):
        load_hparams(str(misspelt))


@pytest.mark.parametrize("size, learning_rate", [("small", 3e-4), ("base", 1e-4)])
def test_the_original_electra_recipe(size, learning_rate):
    path = os.path.join(ROOT, "configs", "finetune", f"google-electra-{size}.json")
    hparams = load_hparams(path, "nsmc")
    assert hparams.learning_rate == learning_rate
    assert (hparams.layerwise_lr_decay, hparams.warmup_proportion, hparams.weight_decay_rate, hparams.adam_epsilon) == (
        0.8, 0.1, 0.01, 1e-6)
    assert (hparams.num_train_epochs, hparams.train_batch_size, hparams.max_seq_length) == (3, 32, 128)
    assert hparams.adam_bias_correction is False
    assert "configure_finetuning.py" in hparams.source and "appendix" in hparams.source
    assert load_hparams(path, "korsts").num_train_epochs == 10  # STS: 10 epochs
    squad_like = load_hparams(path, "korquad")
    assert (squad_like.num_train_epochs, squad_like.max_seq_length) == (2, 512)


def test_the_tiny_config_uses_the_learning_rate_that_did_not_collapse():
    hparams = load_hparams(os.path.join(ROOT, "configs", "finetune", "tiny.json"), "text_classification")
    assert 5e-5 <= hparams.learning_rate <= 2e-4 and hparams.num_train_epochs >= 4  # 1e-3 collapsed
    assert "1e-3" in hparams.source and "1.25e-4" in hparams.source


def _topic_task():
    return get_task("text_classification", text_column="sentence", label_column="topic", id_column="id",
                    label_list=TOPICS)


def test_one_class_warning_only_for_a_collapse():
    task = _topic_task()
    examples = [ClassificationExample(str(i), "x", label=i % 3) for i in range(6)]
    message = one_class_warning(task, examples, [1] * 6, 1e-3)
    assert message.startswith("all 6 dev predictions are class '경제'")
    assert "learning rate (0.001) is probably too high" in message and "1e-4" in message
    assert one_class_warning(task, examples, [0, 1, 1, 1, 1, 1], 1e-3) is None  # two classes predicted
    same_gold = [ClassificationExample(str(i), "x", label=1) for i in range(6)]
    assert one_class_warning(task, same_gold, [1] * 6, 1e-3) is None  # one class is right there
    regression = get_task("text_regression", text_column="a", label_column="score")
    assert one_class_warning(regression, examples, [0.5] * 6, 1e-3) is None


def test_a_collapsed_run_warns_naming_the_learning_rate(tmp_path, caplog, init_checkpoint):
    hparams = load_hparams(os.path.join(ROOT, "configs", "finetune", "tiny.json"), None,
                           {"learning_rate": 0.5, "num_train_epochs": 1, "max_seq_length": 32,
                            "warmup_proportion": 0.0})
    with caplog.at_level(logging.WARNING):
        results = finetune(_topic_task(), hparams, init_checkpoint, fixture_dir("generic"), str(tmp_path),
                           progress=False, export=False)
    warning = results["epochs"][-1].get("warning")
    assert warning and "learning rate (0.5) is probably too high" in warning, results["epochs"][-1]
    assert any("learning rate (0.5)" in record.getMessage() for record in caplog.records)
