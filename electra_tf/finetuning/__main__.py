"""Fine-tune an ELECTRA discriminator on a KoELECTRA benchmark task or on your own TSV/CSV.

  python -m electra_tf.finetuning --task nsmc --config configs/finetune/koelectra-small-v3.json \
      --init_checkpoint DIR --data_dir DIR --output_dir DIR [--hparams '{"num_train_epochs": 2}']

Writes OUTPUT_DIR/eval_results.json (dev metrics per epoch, best epoch, test metrics), predictions.tsv (or
predictions.json for KorQuAD) for the test split, logs/ (TensorBoard) and model/ (a transformers directory).
Checkpoints go to OUTPUT_DIR/checkpoints: running the same command again resumes; on SIGTERM the run saves and
exits with status 143 (`electra_tf.preemption.PREEMPTED_EXIT_STATUS`).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from electra_tf import distribute  # noqa: E402
from electra_tf.finetuning.config import load_hparams  # noqa: E402
from electra_tf.finetuning.readers import BadRowError, EmptySplitError  # noqa: E402
from electra_tf.finetuning.tasks import TASKS, get_task  # noqa: E402
from electra_tf.finetuning.trainer import finetune  # noqa: E402

FLAGS = flags.FLAGS


flags.DEFINE_string("task", None, f"Task: one of {', '.join(TASKS)}.")
flags.DEFINE_string("config", None, "Fine-tuning config JSON (configs/finetune/*.json); per-task sections apply.")
flags.DEFINE_string("hparams", None, "JSON object of hyperparameter overrides, e.g. '{\"learning_rate\": 3e-5}'.")
flags.DEFINE_string("init_checkpoint", None,
                    "Pre-trained model: a transformers directory, a keras-hub ELECTRA preset or an original "
                    "ELECTRA TF1 checkpoint.")
flags.DEFINE_string("data_dir", None, "Directory holding the task's files.")
flags.DEFINE_string("output_dir", None, "Where results, predictions, logs and the fine-tuned model go.")
flags.DEFINE_string("vocab", None,
                    "vocab.txt; default: the one beside --init_checkpoint (or a keras-hub preset's).")
flags.DEFINE_string("text_column", "text", "Generic tasks: the text column's header name.")
flags.DEFINE_string("text_pair_column", None, "Generic tasks: the second text column (pair tasks).")
flags.DEFINE_string("label_column", "label", "Generic tasks: the label (or score) column.")
flags.DEFINE_string("id_column", None, "Generic tasks: a column that identifies rows in predictions.")
flags.DEFINE_list("labels", None, "Generic classification: the label list (default: collected from train).")
flags.DEFINE_bool("skip_bad_rows", False, "Skip and count malformed rows instead of stopping at the first one.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("export", True, "Export the best model to OUTPUT_DIR/model.")
distribute.define_flags()


def main(argv):
    del argv
    try:
        hparams = load_hparams(FLAGS.config, FLAGS.task, FLAGS.hparams)
        task = get_task(FLAGS.task, skip_bad_rows=FLAGS.skip_bad_rows, text_column=FLAGS.text_column,
                        text_pair_column=FLAGS.text_pair_column, label_column=FLAGS.label_column,
                        label_list=FLAGS.labels, id_column=FLAGS.id_column)
        strategy = distribute.strategy_from_flags(FLAGS)
        results = finetune(task, hparams, FLAGS.init_checkpoint, FLAGS.data_dir, FLAGS.output_dir,
                           vocab_file=FLAGS.vocab, strategy=strategy, jit_compile=FLAGS.jit_compile,
                           progress=FLAGS.progress, export=FLAGS.export)
    except (BadRowError, EmptySplitError, FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    best = results.get("best", {})
    logging.info("Best epoch %s: dev %s; test %s", best.get("epoch"), best.get("dev"), results.get("test"))
    print(f"best epoch {best.get('epoch')}: dev {best.get('dev')}, test {results.get('test')}")


def run():
    """Console-script entry point (`electra-finetune`, `python -m electra_tf.finetuning`, run_finetuning.py)."""
    flags.mark_flags_as_required(["task", "init_checkpoint", "data_dir", "output_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
