"""The demo: a recipe at tiny scale on the bundled sample data, one command: `python -m electra_tf.pipeline`.

It is `python -m electra_tf.recipe --recipe koelectra-small-v3 --scale tiny` on `data/sample_corpus.txt` with
NSMC fine-tuning on `data/sample_nsmc` (prepare → vocab → corpus → pre-training → export → fine-tuning, which
also writes the SavedModel), followed by two demo stages: a parity check of the exports in transformers and one
`predict_text` call on a positive and a negative review of the sample's test file (`held_out_reviews`). The
fine-tuning stage uses the demo's own settings (`DEMO_FINETUNE`) on top of `configs/finetune/tiny.json`. Stages
resume as the recipe runner's do; each stage's output goes to `WORK/logs/<stage>.log`, and the run ends with a
summary table (the test accuracy included) and the two reports.
"""

import os
import sys

import tensorflow as tf
from absl import flags

from electra_tf import cli
from electra_tf import recipe as recipes
from electra_tf.finetuning.config import FinetuneHparams
from electra_tf.finetuning.tasks import get_task
from electra_tf.hparams import field_names, parse_hparams
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.stages import Stage, run_with_summary

FLAGS = flags.FLAGS

TASK = "nsmc"
REVIEW_LABELS = ["1", "0"]  # the demo's reviews: a positive one, then a negative one
# The demo's fine-tuning on top of configs/finetune/tiny.json, whose 1.25e-4 suits real tasks: on the sample's
# 300 template rows it stays near chance. The demo's pre-trained model's [CLS] output hardly varies with the input,
# so small batches at a high rate (4 rows, 5e-4) are needed to leave the plateau, and dropout on the classifier
# alone (none in the encoder) to generalise. Measurements per seed: docs/experiments/demo-finetuning.md.
DEMO_FINETUNE = {"learning_rate": 5e-4, "train_batch_size": 4, "num_train_epochs": 40, "adam_bias_correction": True,
                 "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.1}


def demo_stages(work_dir, recipe, corpus, finetune_data, pretrain_overrides=None, python=None,
                finetune_hparams=None):
    """The recipe's tiny-scale stages (fine-tuning with `DEMO_FINETUNE` and `finetune_hparams`) plus the
    parity and predict_text demo stages."""
    python = python or sys.executable
    stages = recipes.plan(recipe, [corpus], work_dir, scale="tiny", finetune_task=TASK,
                          finetune_data_dir=finetune_data, pretrain_overrides=pretrain_overrides, python=python,
                          finetune_hparams={**DEMO_FINETUNE, **(finetune_hparams or {})})
    export_dir = os.path.join(work_dir, "export")
    serving_dir = os.path.join(recipes.finetune_output_dir(work_dir, TASK), "saved_model")
    parity, prediction = os.path.join(work_dir, "parity.txt"), os.path.join(work_dir, "prediction.txt")
    reviews = held_out_reviews(finetune_data)
    return stages + [
        Stage("parity", [[python, "-m", "electra_tf.parity", f"--model_dir={export_dir}/discriminator",
                          f"--model_dir={export_dir}/generator", f"--output={parity}"]], parity),
        Stage("predict_text", [[python, "-m", "electra_tf.serving", f"--saved_model_dir={serving_dir}",
                                *[f"--text={review}" for review in reviews],
                                f"--output={prediction}"]], prediction, result=predicted_labels),
    ]


def held_out_reviews(finetune_data):
    """The demo's reviews (in `REVIEW_LABELS` order): the first positive and the first negative review of
    `finetune_data`'s test file, which fine-tuning never trains on. Free-form reviews are not used: a model
    pre-trained for a few CPU minutes labels them by chance (docs/experiments/demo-finetuning.md)."""
    task = get_task(TASK)
    data = task.read(finetune_data, "test")
    first = {}
    for example in data.examples:
        first.setdefault(task.labels[example.label], example.text_a)
    missing = [label for label in REVIEW_LABELS if label not in first]
    if missing:
        raise ValueError(f"--finetune_data: {data.path} has no review labelled {missing[0]} for the demo")
    return [first[label] for label in REVIEW_LABELS]


def read_predictions(path):
    """The labels of a `serving --output` report, in its order (lines ``TEXT → {'label': 'L', ...}``)."""
    with tf.io.gfile.GFile(path, "r") as handle:
        return [line.split("'label': '", 1)[1].split("'", 1)[0] for line in handle if "'label': '" in line]


def predicted_labels(stage):
    """The predict_text stage's summary: each review's label against the expected one."""
    labels = read_predictions(stage.output) if tf.io.gfile.exists(stage.output) else []
    right = sum(label == expected for label, expected in zip(labels, REVIEW_LABELS))
    return f"labels {' '.join(labels)} (expected {' '.join(REVIEW_LABELS)}: {right}/{len(REVIEW_LABELS)} right)"


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("work_dir", "runs/demo", "Where every stage writes its output.")
    flags.DEFINE_string("recipe", "koelectra-small-v3", "Recipe whose tiny scale the demo runs.")
    flags.DEFINE_string("corpus", "data/sample_corpus.txt", "Raw pre-training text (one sentence per line).")
    flags.DEFINE_string("finetune_data", "data/sample_nsmc", "NSMC-format directory for the fine-tuning stage.")
    flags.DEFINE_string("hparams", None, "JSON overrides for the tiny pre-training preset.")
    flags.DEFINE_string("finetune_hparams", None, "JSON overrides for the fine-tuning stage, on top of the demo's.")


def main(argv):
    del argv
    recipe = recipes.load_recipe(FLAGS.recipe)
    overrides = parse_hparams(FLAGS.hparams, field_names(PretrainingConfig))
    finetune_hparams = parse_hparams(FLAGS.finetune_hparams, field_names(FinetuneHparams))
    recipes.check_paths([FLAGS.corpus], finetune_data_dir=FLAGS.finetune_data, input_flag="--corpus",
                        data_flag="--finetune_data")
    stages = demo_stages(FLAGS.work_dir, recipe, FLAGS.corpus, FLAGS.finetune_data, overrides,
                         finetune_hparams=finetune_hparams)
    recipes.pin_work_dir(FLAGS.work_dir, recipe["name"], "tiny")
    log_dir = os.path.join(FLAGS.work_dir, "logs") if "://" not in FLAGS.work_dir else None
    code = run_with_summary(stages, FLAGS.work_dir, log_dir=log_dir)
    if code:
        sys.exit(code)
    for report in ("parity.txt", "prediction.txt"):
        with tf.io.gfile.GFile(os.path.join(FLAGS.work_dir, report), "r") as handle:
            print(handle.read().rstrip())


if __name__ == "__main__":
    define_flags()
    cli.run(main)
