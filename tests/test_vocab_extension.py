"""`--extend_vocab`: old rows and ids kept, new rows the mean of their old pieces (NumPy over transformers'
ElectraTokenizer pieces), transformers logits unchanged on old tokens, ElectraTokenizer ids of the export, and
the corpus check."""

import os

import numpy as np
import pytest
import transformers
from conftest import padded_pair_batch
from support import RELEASED_HPARAMS, released_shape_run

from electra_tf import recipe
from electra_tf.pretraining import transfer
from electra_tf.pretraining.vocab_extension import extend_vocabulary
from electra_tf.tokenization import FastTokenizer, load_vocab, save_wordpiece_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
EMBEDDINGS, BIAS = "electra/embeddings/word_embeddings/weight:0", "generator_lm_head/bias:0"
# new words, a continuation piece, a character the old vocabulary lacks ([UNK] only), and what must be skipped
NEW = ["영화관람", "##스러움", "\u2603", "배우연기", "[MASK]", "[unused3]", "영화관람"]


@pytest.fixture(scope="module")
def extended(released_model, tmp_path_factory):
    """(released export dirs, old tokens, extended tokens, the extended run, its export dirs)."""
    root = tmp_path_factory.mktemp("extend")
    old = load_vocab(VOCAB)
    extension_file = root / "new_tokens.txt"
    extension_file.write_text("".join(token + "\n" for token in NEW + old[10:20]), encoding="utf-8")
    tokens, _ = extend_vocabulary(old, str(extension_file))
    target = released_shape_run(str(root / "target"), tokens)
    transfer.initialize_from(target, released_model["discriminator"], released_model["generator"], (old, tokens))
    vocab_file = save_wordpiece_files(tokens, str(root / "target"))
    return released_model, old, tokens, target, transfer.export(target, vocab_file)


def test_old_ids_and_rows_are_kept_and_new_rows_are_the_mean_of_their_pieces(extended):
    released, old, tokens, target, _ = extended
    assert tokens[:len(old)] == old
    assert tokens[len(old):] == ["영화관람", "##스러움", "\u2603", "배우연기"]  # specials, dups, old ones skipped
    theirs = transformers.ElectraTokenizer(vocab_file=VOCAB, do_lower_case=False, strip_accents=False)
    generator = target.pretrainer.generator
    table = generator.electra.embeddings.word_embeddings.numpy()
    bias = generator.head.bias.numpy()
    released_model = transformers.TFElectraForMaskedLM.from_pretrained(released["generator"])
    old_table = released_model.electra.embeddings.weight.numpy()
    old_bias = released_model.generator_lm_head.bias.numpy()
    np.testing.assert_array_equal(table[:len(old)], old_table)
    np.testing.assert_array_equal(bias[:len(old)], old_bias)
    np.testing.assert_array_equal(target.pretrainer.discriminator.electra.embeddings.word_embeddings.numpy(), table)
    for index, token in enumerate(tokens[len(old):], len(old)):
        ids = [i for i in theirs.convert_tokens_to_ids(theirs.tokenize(token.removeprefix("##")))
               if i != theirs.unk_token_id]
        expected_row = old_table[ids].mean(0) if ids else old_table.mean(0)
        expected_bias = old_bias[ids].mean() if ids else old_bias.mean()
        assert len(ids) > 1 or token == "\u2603", (token, ids)  # the fall-back only where nothing is left
        assert np.abs(table[index] - expected_row).max() <= 1e-6, token
        assert abs(bias[index] - expected_bias) <= 1e-6, token


def test_transformers_gives_the_released_logits_on_old_tokens(extended):
    released, old, tokens, _, exported = extended
    batch = padded_pair_batch(len(old), batch_size=3, sequence_length=24)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "token_type_ids": batch["token_type_ids"]}
    assert len(set(np.asarray(batch["token_type_ids"]).ravel())) == 2 and np.asarray(batch["attention_mask"]).min() == 0
    for network, cls in (("discriminator", "TFElectraForPreTraining"), ("generator", "TFElectraForMaskedLM")):
        before = getattr(transformers, cls).from_pretrained(released[network])(inputs).logits.numpy()
        after = getattr(transformers, cls).from_pretrained(exported[network])(inputs).logits.numpy()
        if network == "generator":
            assert after.shape[-1] == len(tokens)
            after = after[..., :len(old)]
        assert np.abs(after - before).max() <= 1e-5, network


def test_electra_tokenizer_of_the_export_matches_ours_on_new_tokens(extended):
    _, old, tokens, _, exported = extended
    theirs = transformers.ElectraTokenizer(vocab_file=os.path.join(exported["discriminator"], "vocab.txt"),
                                           do_lower_case=False, strip_accents=False)
    ours = FastTokenizer(tokens)
    lines = ["영화관람 배우연기 \u2603", "이 영화관람스러움 최고 연기력", "배우연기!"]
    for line in lines:
        assert theirs.encode(line, add_special_tokens=False) == ours.encode(line), line
    assert any(i >= len(old) for line in lines for i in ours.encode(line))


def test_a_corpus_built_with_the_old_vocabulary_is_refused_before_anything_is_written(
        extended, pretraining_shards, run_commands, tmp_path):
    released = extended[0]
    extension = tmp_path / "new.txt"
    extension.write_text("영화관람\n", encoding="utf-8")
    model_dir = tmp_path / "model"
    results = run_commands({"run": ["-m", "electra_tf.pretraining", f"--config={TINY}",
                                    f"--data_dir={pretraining_shards}", f"--model_dir={model_dir}",
                                    f"--init_checkpoint={released['discriminator']}", f"--vocab={VOCAB}",
                                    f"--extend_vocab={extension}"],
                            "write": ["-m", "electra_tf.pretraining.vocab_extension", f"--vocab={VOCAB}",
                                      f"--extend_vocab={extension}", f"--output_dir={tmp_path / 'vocab'}"]})
    result = results["run"]
    assert results["write"].returncode == 0, results["write"].stderr[-3000:]
    assert load_vocab(str(tmp_path / "vocab" / "vocab.txt")) == load_vocab(VOCAB) + ["영화관람"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "stats.json" in errors[0] and "--extend_vocab" in errors[0], errors[0]
    assert not model_dir.exists()


def test_continues_from_one_of_our_runs_with_both_networks(extended, tmp_path):
    """A run directory as --init_checkpoint: both networks restored (and extended); TF1 checkpoints, transformers
    directories and keras-hub presets are covered by test_pretraining_run, the fixture above and test_keras_hub."""
    _, old, tokens, target, _ = extended
    target.save()
    again = released_shape_run(str(tmp_path / "again"), tokens)
    transfer.initialize_from(again, target.model_dir)
    released = recipe.released_settings(target.model_dir)  # the domain-adapt recipe takes the run's shape
    assert released["model_overrides"]["intermediate_size"] == RELEASED_HPARAMS["model_overrides"]["intermediate_size"]
    assert released["generator_hidden_size"] == RELEASED_HPARAMS["generator_hidden_size"]
    for network in ("discriminator", "generator"):
        expected = getattr(target.pretrainer, network).hf_weights()
        actual = getattr(again.pretrainer, network).hf_weights()
        for name, variable in expected.items():
            np.testing.assert_array_equal(actual[name].numpy(), variable.numpy(), err_msg=f"{network} {name}")
