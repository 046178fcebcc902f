"""Pre-train an ELECTRA generator + discriminator on TFRecords from `electra_tf.data.build_pretraining_data`.

    python -m electra_tf.pretraining --config configs/pretrain/koelectra-small-v3.json \
        --data_dir DATA --model_dir MODEL [--hparams '{"train_steps": 1000}']

Re-running the same command resumes exactly from the newest readable checkpoint in MODEL (same weights and
metrics as an uninterrupted run). On SIGTERM it saves and exits with status 143 without exporting. When
train_steps is reached (or with --export_only) the discriminator and generator are exported to
MODEL/export/{discriminator,generator}. The vocabulary, shards and an existing MODEL are checked against the
settings before anything is written.
"""

import atexit
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import flags, logging

from electra_tf import cli, config_files, distribute, plan, rundir
from electra_tf import hparams as hparams_lib
from electra_tf.data.pretraining_dataset import check_shards, make_pretraining_input_fn
from electra_tf.data.schema import heldout_dir, read_stats, shard_files
from electra_tf.pretrained import find_vocab
from electra_tf.pretraining import loop, transfer
from electra_tf.pretraining.vocab_extension import extend_vocabulary
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.metrics import unigram_from_counts
from electra_tf.tokenization import WORDPIECE, load_vocab, save_wordpiece_files, special_token_ids, vocab_kind

FLAGS = flags.FLAGS
hparams_lib.define_flags("Pre-training preset JSON (configs/pretrain/*.json), or a preset's name (e.g. tiny).",
                         "JSON object overriding settings of --config.")
flags.DEFINE_string("data_dir", None, "Directory of the TFRecord shards (and, by default, vocab.txt).")
flags.DEFINE_string("eval_data_dir", None, "Held-out shards (built like --data_dir's, same vocabulary), evaluated "
                    "every eval_steps steps (default save_checkpoints_steps) on eval_batches batches; default: "
                    "DATA_DIR/heldout/ when the corpus builder set shards aside (--heldout_shards).")
flags.DEFINE_string("vocab", None, "vocab.txt; default: DATA_DIR/vocab.txt.")
flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard logs and exports go here.")
flags.DEFINE_string("init_checkpoint", None,
                    "Continue pre-training from an original ELECTRA TF1 checkpoint (both networks), a "
                    "transformers discriminator directory or a keras-hub ELECTRA preset (encoder only).")
flags.DEFINE_string("init_generator_checkpoint", None,
                    "transformers generator directory to start the generator from (with a transformers "
                    "--init_checkpoint).")
flags.DEFINE_string("extend_vocab", None,
                    "With --init_checkpoint: a vocab.txt or a list of tokens (one per line) whose tokens the released "
                    "vocabulary (--vocab, default: the one beside --init_checkpoint) lacks are appended; new rows "
                    "start as the mean of their old pieces. Build the corpus with the extended vocabulary "
                    "(python -m electra_tf.pretraining.vocab_extension writes it; the run writes it to MODEL_DIR/vocab.txt).")
flags.DEFINE_bool("export_only", False, "Only export the latest checkpoint of --model_dir.")
flags.DEFINE_bool("dry_run", False, "Print the plan of `python -m electra_tf.plan` (memory, accumulation, time) "
                  "for these settings and stop, before any data is read or anything written.")
distribute.define_flags()
plan.define_flags()


def shard_unigram(data_dir, special_ids):
    """The unigram distribution of the shards in `data_dir` (their stats.json's token_counts), or None (with a
    warning) when it is not recorded: the health metrics that need it are then left out."""
    counts = (read_stats(data_dir) or {}).get("token_counts") if data_dir else None
    if counts is None:
        logging.warning("%s has no token_counts in stats.json (shards built before they were recorded): the unigram "
                        "entropy and unigram-fill AUC are left out of the health metrics", data_dir)
        return None
    return unigram_from_counts(counts, special_ids)


def extended_vocabulary(model_dir, extend_vocab, vocab, init_checkpoint):
    """`(vocab_file, (old_tokens, tokens))` of `--extend_vocab`: the released vocabulary extended, written to a
    scratch vocab.txt (nothing goes to `model_dir` before the checks), or MODEL_DIR/vocab.txt when a resumed run
    holds it already (it must be the same extension: a run is never extended twice)."""
    if not init_checkpoint:
        raise ValueError("--extend_vocab needs --init_checkpoint (a fresh model takes the extended vocab.txt as "
                         "--vocab)")
    old_file = vocab or find_vocab(init_checkpoint)
    if not old_file:
        raise ValueError(f"--extend_vocab: no vocab.txt beside --init_checkpoint {init_checkpoint}: pass the "
                         "released vocabulary as --vocab")
    if vocab_kind(old_file) != WORDPIECE:
        raise ValueError(f"--extend_vocab: {old_file} is not a WordPiece vocabulary")
    old_tokens = load_vocab(old_file)
    tokens, _ = extend_vocabulary(old_tokens, extend_vocab)
    run_file = os.path.join(model_dir, "vocab.txt")
    if tf.io.gfile.exists(run_file):
        if load_vocab(run_file) != tokens:
            raise ValueError(f"--extend_vocab: {run_file} (this run's vocabulary) is not {old_file} extended with "
                             f"{extend_vocab}")
        return run_file, (old_tokens, tokens)
    scratch = tempfile.mkdtemp(prefix="extended_vocab_")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # a killed run leaves only this, in the temp dir
    return save_wordpiece_files(tokens, scratch), (old_tokens, tokens)


def main(argv):
    del argv
    config = PretrainingConfig.from_json_file(config_files.resolve(FLAGS.config, "pretrain"), FLAGS.hparams)
    if FLAGS.dry_run:
        plan.plan_from_flags(FLAGS, plan.pretraining(FLAGS, config, len(load_vocab(FLAGS.vocab)) if FLAGS.vocab
                                                     else None))
        return
    vocab_file = FLAGS.vocab or os.path.join(FLAGS.data_dir or "", "vocab.txt")
    extension = None
    if FLAGS.extend_vocab:
        vocab_file, extension = extended_vocabulary(FLAGS.model_dir, FLAGS.extend_vocab, FLAGS.vocab,
                                                    FLAGS.init_checkpoint)
    elif FLAGS.export_only and not FLAGS.vocab and tf.io.gfile.exists(os.path.join(FLAGS.model_dir, "vocab.txt")):
        vocab_file = os.path.join(FLAGS.model_dir, "vocab.txt")  # an extended run's
    vocab = load_vocab(vocab_file)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    # Every consistency check comes before the first write to --model_dir.
    eval_data_dir = FLAGS.eval_data_dir
    if not FLAGS.export_only:
        if not FLAGS.data_dir:
            raise ValueError("--data_dir is required for training")
        try:
            check_shards(shard_files(FLAGS.data_dir), config.max_seq_length, vocab_file, len(vocab))
        except ValueError as error:
            if extension:
                raise ValueError(f"--extend_vocab {FLAGS.extend_vocab}: the corpus must be built with the extended "
                                 f"vocabulary ({len(vocab)} tokens): {error}") from error
            raise
        if not eval_data_dir and (set_aside := heldout_dir(FLAGS.data_dir)):
            eval_data_dir = set_aside
            logging.info("Held-out evaluation on %s (the corpus builder's --heldout_shards)", eval_data_dir)
        if eval_data_dir:
            try:
                check_shards(shard_files(eval_data_dir), config.max_seq_length, vocab_file, len(vocab))
            except (FileNotFoundError, ValueError) as error:
                raise type(error)(f"--eval_data_dir {eval_data_dir}: {error}") from error
    rundir.check_run_configs(FLAGS.model_dir, config, discriminator_config)
    strategy = distribute.strategy_from_flags(FLAGS)
    distribute.log_strategy(strategy)
    keras.utils.set_random_seed(config.seed)  # reproducible initialization and dropout
    special_ids = special_token_ids(vocab)
    unigram = None if FLAGS.export_only else shard_unigram(FLAGS.data_dir, special_ids)
    run = loop.PretrainingRun(config, discriminator_config, special_ids, FLAGS.model_dir, strategy,
                              jit_compile=FLAGS.jit_compile, unigram=unigram)
    if FLAGS.export_only:
        if not run.restore():
            raise FileNotFoundError(f"No checkpoint to export in {FLAGS.model_dir}")
    else:
        if run.is_chief:
            rundir.save_run_configs(FLAGS.model_dir, config, discriminator_config)
            if extension and vocab_file != os.path.join(FLAGS.model_dir, "vocab.txt"):
                vocab_file = save_wordpiece_files(vocab_file, FLAGS.model_dir)  # export and resume use it
        if FLAGS.init_checkpoint and not tf.train.latest_checkpoint(FLAGS.model_dir):
            transfer.initialize_from(run, FLAGS.init_checkpoint, FLAGS.init_generator_checkpoint, extension)
        dataset_fn = make_pretraining_input_fn(shard_files(FLAGS.data_dir), config.max_seq_length,
                                          config.train_batch_size, is_training=True, seed=config.seed)
        eval_dataset_fn = eval_data_dir and make_pretraining_input_fn(
            shard_files(eval_data_dir), config.max_seq_length, config.train_batch_size, is_training=False)
        # raises Preempted (exit 143) on SIGTERM
        loop.train(run, dataset_fn, log_fn=logging.info, eval_dataset_fn=eval_dataset_fn or None)
    if run.is_chief:
        paths = transfer.export(run, vocab_file)
        logging.info("Exported %s", ", ".join(f"{name}: {path}" for name, path in paths.items()))


def run():
    """Console-script entry point (`electra-pretrain`, `python -m electra_tf.pretraining`, run_pretraining.py)."""
    flags.mark_flags_as_required(["config", "model_dir"])
    cli.run(main)


if __name__ == "__main__":
    run()
