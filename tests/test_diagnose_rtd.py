"""bench/diagnose_rtd.py: its AUCs, and a run over a tiny saved pre-training run."""

import itertools
import os
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import diagnose_rtd  # noqa: E402

from electra_tf import rundir  # noqa: E402
from electra_tf.data.example_records import serialize_examples  # noqa: E402
from electra_tf.data.packing import PackedExample  # noqa: E402
from electra_tf.data.schema import shard_name  # noqa: E402
from electra_tf.pretraining.config import PretrainingConfig  # noqa: E402
from electra_tf.pretraining.model import ElectraPretrainer  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_exact_auc_counts_pairs_and_half_ties():
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 60), rng.integers(0, 2, 60)  # many ties
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert abs(diagnose_rtd.exact_auc(scores, labels) - expected) < 1e-12
    assert diagnose_rtd.exact_auc([0.1, 0.9], [0, 1]) == 1.0


def test_identity_only_auc_sees_token_identity_and_nothing_else():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 50, (200, 30))
    # replaced exactly when the token is in a set: identity tells them apart
    labels = (tokens < 10).astype(float)
    assert diagnose_rtd.identity_only_auc(tokens, labels, 50, labels.mean()) > 0.99
    # replaced at random, whatever the token: identity carries nothing
    labels = (rng.random(tokens.shape) < 0.15).astype(float)
    assert abs(diagnose_rtd.identity_only_auc(tokens, labels, 50, labels.mean()) - 0.5) < 0.05
    labels[:, :5] = -1  # positions left out
    assert abs(diagnose_rtd.identity_only_auc(tokens, labels, 50, 0.15) - 0.5) < 0.05


def test_runs_on_a_saved_run(tmp_path, capsys):
    vocab = SPECIALS + [f"w{index}" for index in range(55)]
    data_dir, model_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    (data_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    rng = np.random.default_rng(2)
    ids = rng.integers(5, len(vocab), (64, 16)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    ones = np.ones_like(ids)
    with tf.io.TFRecordWriter(str(data_dir / shard_name(0, 1))) as writer:
        for record in serialize_examples(PackedExample(ids, ones, np.zeros_like(ids))):
            writer.write(record)
    config = PretrainingConfig(model_preset="tiny", max_seq_length=16, train_batch_size=64)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    pretrainer = ElectraPretrainer(config, discriminator_config, {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4})
    rundir.save_run_configs(str(model_dir), config, discriminator_config)
    tf.train.CheckpointManager(tf.train.Checkpoint(pretrainer=pretrainer), str(model_dir), 1, "ckpt").save(7)

    diagnose_rtd.main(["--model_dir", str(model_dir), "--data_dir", str(data_dir), "--rows", "64"])
    output = capsys.readouterr().out
    assert "ckpt-7" in output
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines()
            if len(line.split()) == 6 and line.split()[0] in ("generator", "unigram", "uniform")}
    assert set(rows) == {"generator", "unigram", "uniform"}
    # 16 tokens per row: round(16 * 0.15) = 2 predictions, of which almost all differ from the original
    for name in ("unigram", "uniform"):
        assert 0.9 * 2 / 16 < float(rows[name][0]) <= 2 / 16
