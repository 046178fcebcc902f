"""Fine-tune an ELECTRA discriminator on a KoELECTRA benchmark task or on your own TSV/CSV.

  python -m electra_tf.finetuning --task nsmc --config configs/finetune/koelectra-small-v3.json \
      --init_checkpoint DIR --data_dir DIR --output_dir DIR [--hparams '{"num_train_epochs": 2}']

Writes OUTPUT_DIR/eval_results.json (dev metrics per epoch, best epoch, test metrics), predictions.tsv (or
predictions.json for KorQuAD) for the test split (GLUE tasks also their submission files, CoLA.tsv, ...),
logs/ (TensorBoard) and model/ (a transformers directory). `--tfds glue/cola` reads a prepared TFDS dataset.
With a pre-training run directory as --init_checkpoint, `--checkpoint_steps all|N,M,…` fine-tunes each of those
checkpoints into OUTPUT_DIR/step-<N>/ and tabulates them (see `checkpoint_series`). `--num_trials N` or
`--seeds 1,2,3` runs one trial per seed into OUTPUT_DIR/trial_seed<N>/ and summarizes them (see `trials`;
`python -m electra_tf.finetuning.compare A B` compares two such directories).
Checkpoints go to OUTPUT_DIR/checkpoints: running the same command again resumes; on SIGTERM the run saves and
exits with status 143 (`electra_tf.preemption.PREEMPTED_EXIT_STATUS`). `--dry_run` prints the plan of
`python -m electra_tf.plan` (memory, gradient accumulation, time) for these settings instead, reading no data.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

from electra_tf import cli, config_files, distribute, plan  # noqa: E402
from electra_tf import hparams as hparams_lib  # noqa: E402
from electra_tf.finetuning import checkpoint_series, trials  # noqa: E402
from electra_tf.finetuning.config import load_hparams  # noqa: E402
from electra_tf.finetuning.run import finetune  # noqa: E402
from electra_tf.finetuning.tasks import TASKS, get_task  # noqa: E402
from electra_tf.finetuning.tfds_input import use_tfds  # noqa: E402

FLAGS = flags.FLAGS


flags.DEFINE_string("task", None, f"Task: one of {', '.join(TASKS)}.")
hparams_lib.define_flags("Fine-tuning config JSON (configs/finetune/*.json) or its name (e.g. tiny); per-task "
                         "sections apply.",
                         "JSON object of hyperparameter overrides, e.g. '{\"learning_rate\": 3e-5}'.")
flags.DEFINE_string("init_checkpoint", None,
                    "Pre-trained model: a transformers directory, a keras-hub ELECTRA preset or an original "
                    "ELECTRA TF1 checkpoint.")
flags.DEFINE_string("data_dir", None, "Directory holding the task's files (not needed with --tfds).")
flags.DEFINE_string("tfds", None, "Read the splits from this prepared TFDS dataset instead (e.g. glue/cola; the "
                    "GLUE tasks map its features to their columns).")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data directory holding the prepared --tfds dataset.")
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
flags.DEFINE_string("checkpoint_steps", None,
                    "With a pre-training run directory as --init_checkpoint: 'all' or steps N,M,... Fine-tunes each "
                    "of those checkpoints into OUTPUT_DIR/step-<N>/ and writes OUTPUT_DIR/checkpoint_scores.tsv and "
                    ".png; steps already in the table are skipped.")
flags.DEFINE_integer("num_trials", None, "Run this many trials, seeds seed, seed+1, ... (the config's seed "
                     "first), each into OUTPUT_DIR/trial_seed<N>/, and write their median / mean / sd / min / max "
                     "to OUTPUT_DIR/eval_results.json, trials.tsv and trials.png; finished trials are skipped.")
flags.DEFINE_string("seeds", None, "Like --num_trials, with these seeds (comma-separated, e.g. 1,2,3).")
flags.DEFINE_bool("dry_run", False, "Print the plan of `python -m electra_tf.plan` (memory, accumulation, time; "
                  "--train_examples for the whole run) for these settings and stop, before any data is read or "
                  "anything written.")
distribute.define_flags()
plan.define_flags()
plan.define_finetuning_flags()


def main(argv):
    del argv
    config = FLAGS.config and config_files.resolve(FLAGS.config, "finetune")
    hparams = load_hparams(config, FLAGS.task, FLAGS.hparams)
    task = get_task(FLAGS.task, skip_bad_rows=FLAGS.skip_bad_rows, text_column=FLAGS.text_column,
                    text_pair_column=FLAGS.text_pair_column, label_column=FLAGS.label_column,
                    label_list=FLAGS.labels, id_column=FLAGS.id_column)
    if FLAGS.dry_run:
        plan.plan_from_flags(FLAGS, plan.finetuning(FLAGS, task, hparams, FLAGS.init_checkpoint))
        return
    if FLAGS.tfds:
        task = use_tfds(task, FLAGS.tfds, FLAGS.tfds_data_dir)
    strategy = distribute.strategy_from_flags(FLAGS)

    seeds = trials.parse_seeds(FLAGS.num_trials, FLAGS.seeds, hparams.seed)

    def run_once(run_hparams, output_dir, init_checkpoint, vocab_file):
        return finetune(task, run_hparams, init_checkpoint, FLAGS.data_dir, output_dir, vocab_file=vocab_file,
                        strategy=strategy, jit_compile=FLAGS.jit_compile, progress=FLAGS.progress,
                        export=FLAGS.export)

    def finetune_one(init_checkpoint, output_dir, vocab_file=FLAGS.vocab):
        if seeds is None:
            return run_once(hparams, output_dir, init_checkpoint, vocab_file)
        return trials.run_trials(seeds, hparams, output_dir,
                                 lambda trial_hparams, trial_dir: run_once(trial_hparams, trial_dir,
                                                                           init_checkpoint, vocab_file),
                                 task.name, task.metric)

    if FLAGS.checkpoint_steps:
        checkpoint_series.score_checkpoints(FLAGS.init_checkpoint, FLAGS.checkpoint_steps, FLAGS.output_dir,
                                            finetune_one, task.metric, vocab_file=FLAGS.vocab)
        print(f"scores: {os.path.join(FLAGS.output_dir, checkpoint_series.SCORES_FILE)}")
        return
    results = finetune_one(FLAGS.init_checkpoint, FLAGS.output_dir)
    if seeds is not None:
        print(f"{len(seeds)} trials: median dev {results['best']['dev']}, median test {results['test']}; "
              f"{os.path.join(FLAGS.output_dir, trials.TABLE_FILE)}")
        return
    best = results.get("best", {})
    logging.info("Best epoch %s: dev %s; test %s", best.get("epoch"), best.get("dev"), results.get("test"))
    print(f"best epoch {best.get('epoch')}: dev {best.get('dev')}, test {results.get('test')}")


def run():
    """Console-script entry point (`electra-finetune`, `python -m electra_tf.finetuning`, run_finetuning.py)."""
    flags.mark_flags_as_required(["task", "init_checkpoint", "output_dir"])
    flags.register_multi_flags_validator(
        ["data_dir", "tfds"], lambda values: bool(values["data_dir"] or values["tfds"]),
        message="--data_dir is required (or --tfds)")
    cli.run(main)


if __name__ == "__main__":
    run()
