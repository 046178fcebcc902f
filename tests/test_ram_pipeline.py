"""The whole pipeline with every input and output on TensorFlow's in-memory filesystem (``ram://``), in one
process: vocabulary → corpus shards → pre-training steps → export → fine-tuning steps → SavedModel. A stage that
bypassed `tf.io.gfile` (``open``, ``os.path``, ``shutil``, ``glob`` on a user path) would fail here, as it
would on ``gs://``."""

import builtins
import glob
import os
import shutil
import sys

import keras
import pytest
import tensorflow as tf

from electra_tf import rundir
from electra_tf.data import schema
from electra_tf.data.build_pretraining_data import build_pretraining_data
from electra_tf.data.pretraining_dataset import make_pretraining_input_fn
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.tasks import get_task
from electra_tf.finetuning.run import finetune
from electra_tf.io_utils import read_json
from electra_tf.pretrained import load_pretrained
from electra_tf.pretraining import loop, transfer
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.serving import export_saved_model
from electra_tf.tokenization import load_vocab, special_token_ids
from electra_tf.vocab import build_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "electra_tf")
RAM = "ram://pipeline"


def _copy_in(local, remote, max_lines=None):
    with open(local, encoding="utf-8") as handle:
        lines = handle.readlines()[:max_lines]
    with tf.io.gfile.GFile(remote, "w") as handle:
        handle.write("".join(lines))
    return remote


def _entries(directory):
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(directory))


LOCAL_FILE_FUNCTIONS = [(builtins, "open"), (os, "listdir"), (os, "makedirs"), (os, "replace"), (os, "rename"),
                        (os, "remove"), (os.path, "exists"), (os.path, "isdir"), (os.path, "isfile"),
                        (shutil, "copy"), (shutil, "copyfile"), (shutil, "copytree"), (shutil, "rmtree"),
                        (shutil, "move"), (glob, "glob")]


@pytest.fixture
def local_calls_on_ram(monkeypatch):
    """The (function, path) of every local file-system call our package makes with a ``ram://`` path
    (TensorFlow's own checkpoint size metric globs locally; that is not ours)."""
    calls = []

    def recording(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            paths = [str(arg) for arg in args if isinstance(arg, (str, os.PathLike))] if caller.startswith(PACKAGE) else []
            calls.extend((name, path) for path in paths if path.startswith("ram:"))
            return original(*args, **kwargs)
        return wrapper

    for module, name in LOCAL_FILE_FUNCTIONS:
        monkeypatch.setattr(module, name, recording(module, name))
    return calls


@pytest.mark.slow
def test_every_stage_reads_and_writes_through_gfile(local_calls_on_ram):
    assert not tf.io.gfile.exists(RAM)
    corpus = _copy_in(os.path.join(ROOT, "data", "sample_corpus.txt"), f"{RAM}/in/corpus.txt")
    nsmc = f"{RAM}/in/nsmc"
    for name in ("ratings_train.txt", "ratings_test.txt"):
        _copy_in(os.path.join(ROOT, "data", "sample_nsmc", name), f"{nsmc}/{name}", max_lines=61)
    pretrain_config = _copy_in(os.path.join(ROOT, "configs", "pretrain", "tiny.json"), f"{RAM}/in/pretrain.json")
    finetune_config = _copy_in(os.path.join(ROOT, "configs", "finetune", "tiny.json"), f"{RAM}/in/finetune.json")

    tokens = build_vocab(corpus, f"{RAM}/vocab", vocab_size=2000, show_progress=False)
    vocab_file = f"{RAM}/vocab/vocab.txt"
    assert list(load_vocab(vocab_file)) == list(tokens)

    stats = build_pretraining_data(corpus, vocab_file, f"{RAM}/shards", max_seq_length=32, num_shards=2,
                                   progress=False)
    assert stats["examples"] > 0 and schema.read_stats(f"{RAM}/shards")["num_shards"] == 2

    config = PretrainingConfig.from_json_file(pretrain_config, {
        "train_steps": 4, "save_checkpoints_steps": 2, "log_steps": 2, "steps_per_execution": 2,
        "warmup_steps": 1, "train_batch_size": 4, "max_seq_length": 32})
    discriminator_config = config.discriminator_config(vocab_size=len(tokens))
    keras.utils.set_random_seed(config.seed)
    model_dir = f"{RAM}/pretrain"
    run = loop.PretrainingRun(config, discriminator_config, special_token_ids(load_vocab(vocab_file)), model_dir,
                              tf.distribute.get_strategy())
    rundir.save_run_configs(model_dir, config, discriminator_config)
    dataset_fn = make_pretraining_input_fn(schema.shard_files(f"{RAM}/shards"), config.max_seq_length,
                                           config.train_batch_size, is_training=True, seed=config.seed)
    loop.train(run, dataset_fn, log_fn=lambda *args: None)
    assert tf.train.latest_checkpoint(model_dir).endswith("-4")
    discriminator = transfer.export(run, vocab_file)["discriminator"]
    assert {"config.json", "tf_model.h5", "vocab.txt"} <= set(_entries(discriminator))
    assert load_pretrained(discriminator).config.vocab_size == len(tokens)

    hparams = load_hparams(finetune_config, "nsmc", {"num_train_epochs": 1, "train_batch_size": 8,
                                                      "eval_batch_size": 16, "max_seq_length": 32})
    output = f"{RAM}/finetune"
    results = finetune(get_task("nsmc"), hparams, discriminator, nsmc, output, progress=False)
    assert results["epochs"] and read_json(f"{output}/eval_results.json")["task"] == results["task"]
    assert "saved_model" in _entries(output) and "model" in _entries(output)

    version_dir = export_saved_model(load_pretrained(f"{output}/model"), f"{RAM}/serving", vocab_file)
    served = tf.saved_model.load(version_dir).signatures["predict_text"](text=tf.constant(["정말 재미있다"]))
    assert served["label"].shape == (1,)
    leftovers = [path for directory, dirs, files in tf.io.gfile.walk(RAM) for path in dirs + files
                 if ".incomplete" in path]
    assert leftovers == []
    assert local_calls_on_ram == [] and not os.path.exists("ram:")
