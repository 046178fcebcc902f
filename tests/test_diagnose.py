"""`python -m electra_tf.pretraining.diagnose`: its AUCs, a run over a tiny saved pre-training run, and its
one-line errors."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from electra_tf import rundir
from electra_tf.data.example_records import serialize_examples
from electra_tf.data.packing import PackedExample
from electra_tf.data.schema import shard_name
from electra_tf.pretraining import diagnose
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.model import ElectraPretrainer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_exact_auc_counts_pairs_and_half_ties():
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 60), rng.integers(0, 2, 60)  # many ties
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert abs(diagnose.exact_auc(scores, labels) - expected) < 1e-12
    assert diagnose.exact_auc([0.1, 0.9], [0, 1]) == 1.0


def test_identity_only_auc_sees_token_identity_and_nothing_else():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 50, (200, 30))
    # replaced exactly when the token is in a set: identity tells them apart
    labels = (tokens < 10).astype(float)
    assert diagnose.identity_only_auc(tokens, labels, 50, labels.mean()) > 0.99
    # replaced at random, whatever the token: identity carries nothing
    labels = (rng.random(tokens.shape) < 0.15).astype(float)
    assert abs(diagnose.identity_only_auc(tokens, labels, 50, labels.mean()) - 0.5) < 0.05
    labels[:, :5] = -1  # positions left out
    assert abs(diagnose.identity_only_auc(tokens, labels, 50, 0.15) - 0.5) < 0.05


def _saved_run(tmp_path):
    """(model_dir, data_dir) of a tiny pre-training run saved at step 7, over one shard of 64 random rows."""
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
    return model_dir, data_dir


def test_runs_on_a_saved_run(tmp_path):
    model_dir, data_dir = _saved_run(tmp_path)
    path, summary = diagnose.diagnose(str(model_dir), str(data_dir), rows=64)
    assert path.endswith("ckpt-7")
    assert summary["rows"] == 64 and summary["tokens"] == 64 * 16
    # 16 tokens per row: round(16 * 0.15) = 2 predictions, of which almost all differ from the original
    for name in ("unigram", "uniform"):
        assert 0.9 * 2 / 16 < summary["fills"][name]["replaced"] <= 2 / 16
    assert summary["generator"]["[MASK]"]["predictions"] + summary["generator"]["kept"]["predictions"] == 128
    lines = diagnose.report_lines(summary)
    rows = {line.split()[0]: line.split()[1:] for line in lines
            if len(line.split()) == 6 and line.split()[0] in diagnose.FILLS}
    assert set(rows) == set(diagnose.FILLS)
    assert float(rows["uniform"][0]) == pytest.approx(summary["fills"]["uniform"]["replaced"], abs=5e-4)
    with pytest.raises(ValueError, match="--rows=100: must be a positive multiple of 64"):
        diagnose.diagnose(str(model_dir), str(data_dir), rows=100)


def test_a_directory_without_a_run_is_one_error_line(run_commands, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(FileNotFoundError, match=r"^--data_dir \(its vocab.txt; or pass --vocab\): Vocabulary file"):
        diagnose.diagnose(str(tmp_path), str(data_dir))
    with pytest.raises(FileNotFoundError, match=r"^--vocab: Vocabulary file not found: .*v.txt"):
        diagnose.diagnose(str(tmp_path), str(data_dir), vocab_file=str(tmp_path / "v.txt"))
    (data_dir / "vocab.txt").write_text("\n".join(SPECIALS) + "\n", encoding="utf-8")
    result = run_commands({"diagnose": ["-m", "electra_tf.pretraining.diagnose", f"--model_dir={tmp_path}",
                                        f"--data_dir={data_dir}"]})["diagnose"]
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --model_dir {tmp_path}: no pre-training run (no checkpoint beside "
                      f"{rundir.CONFIG_FILE})"]
