"""experiments/probe_mlm_plateau.py: its bigram baseline, its synthetic rows, and a short run end to end.
Outside the default suite: `python -m pytest experiments/tests` from the checkout."""

import math

import numpy as np
import pytest

from electra_tf import io_utils
from experiments import probe_mlm_plateau

EXCLUDED = [0, 2, 3, 4]


def _rows(rng, rows, length, vocab_size, chained):
    """Ordinary tokens 5..vocab_size-1; `chained`: each token fixed by the one before (t → t + 1 wrapped)."""
    ids = rng.integers(5, vocab_size, (rows, length))
    if chained:
        ids = 5 + (ids[:, :1] - 5 + np.arange(length)[None, :]) % (vocab_size - 5)
    return ids, np.ones_like(ids)


def test_bigram_cross_entropy_sees_a_predictable_neighbour_and_nothing_in_noise():
    rng = np.random.default_rng(0)
    vocab_size = 40
    chained = [_rows(rng, 400, 20, vocab_size, True) for _ in range(2)]
    noise = [_rows(rng, 400, 20, vocab_size, False) for _ in range(2)]
    uniform_entropy = math.log(vocab_size - 5)
    assert probe_mlm_plateau.bigram_cross_entropy(*chained[0], *chained[1], EXCLUDED, vocab_size) < 0.3  # vs 3.56
    noisy = probe_mlm_plateau.bigram_cross_entropy(*noise[0], *noise[1], EXCLUDED, vocab_size)
    assert abs(noisy - uniform_entropy) < 0.1


def test_synthetic_rows_write_each_token_twice_between_cls_and_sep():
    batch = probe_mlm_plateau.synthetic_rows(5, 12, np.random.default_rng(0))
    ids = batch["input_ids"].numpy()
    assert ids.shape == (5, 12) and (ids[:, 0] == 2).all() and (ids[:, -1] == 3).all()
    assert (ids[:, 1:-1:2] == ids[:, 2:-1:2]).all()  # the pairs inside the specials
    assert ((ids[:, 1:-1] >= 5) & (ids[:, 1:-1] < 300)).all()
    assert batch["input_mask"].numpy().all()


def test_a_short_synthetic_run_writes_its_curves(tmp_path, capsys):
    output = tmp_path / "probe.json"
    probe_mlm_plateau.main(["--synthetic_length", "8", "--steps", "4", "--every", "2", "--hidden_size", "16",
                            "--embedding_size", "16", "--layers", "1", "--eval_rows", "16",
                            "--output", str(output)])
    result = io_utils.read_json(str(output))
    assert [row["step"] for row in result["history"]] == [2, 4]
    assert result["baselines"]["no_context"] == pytest.approx(math.log(295))
    assert all(np.isfinite(row["mask_loss"]) and 0 <= row["mask_accuracy"] <= 1 for row in result["history"])
    assert (tmp_path / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "step 4: [MASK] loss" in capsys.readouterr().out


def test_model_with_no_steps_scores_an_export_as_it_is(tmp_path):
    from transformers import ElectraConfig, TFElectraForMaskedLM

    config = ElectraConfig(vocab_size=300, embedding_size=16, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=1, intermediate_size=32, max_position_embeddings=128)
    exported = TFElectraForMaskedLM(config)
    exported(exported.dummy_inputs)
    bias = [w for w in exported.weights if w.name.endswith("bias:0") and w.shape == (300,)][0]
    bias.assign(np.where(np.arange(300) == 7, 50.0, 0.0))  # always predicts token 7
    exported.save_pretrained(str(tmp_path / "generator"))
    output = tmp_path / "scored.json"
    probe_mlm_plateau.main(["--synthetic_length", "8", "--model", str(tmp_path / "generator"), "--steps", "0",
                            "--eval_rows", "64", "--output", str(output)])
    [row] = io_utils.read_json(str(output))["history"]
    assert row["step"] == 0
    assert row["mask_accuracy"] < 0.05  # right only where 7 was drawn (~1 in 295)
    assert row["mask_loss"] > 20  # confidently wrong: the loaded weights were used, not a fresh init


def test_a_data_dir_without_shards_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        probe_mlm_plateau.main(["--data_dir", str(tmp_path), "--output", str(tmp_path / "probe.json")])
    assert exit_info.value.code == 2
    assert f"error: --data_dir {tmp_path}: needs at least two shards" in capsys.readouterr().err
    assert not (tmp_path / "probe.json").exists()
