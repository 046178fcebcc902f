"""SentencePiece vocabularies: the same ids from our host tokenizer, the in-graph one and transformers'
AutoTokenizer (on tests/fixtures/sentencepiece/lines.txt, sentences written for this test), the kind recorded
beside the vocabulary and in stats.json, and one run vocab → corpus → pre-training → export → fine-tuning →
SavedModel."""

import json
import os
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from support import SAMPLE_CORPUS, SENTENCEPIECE_LINES, fixture_dir, sentencepiece_lines
from support import SENTENCEPIECE_KINDS as KINDS
from support import SENTENCEPIECE_VOCAB_SIZE as VOCAB_SIZE

from electra_tf.data.build_pretraining_data import build_pretraining_data
from electra_tf.data.pretraining_dataset import check_shards
from electra_tf.tokenization import (SPECIAL_TOKENS, SentencePieceTokenizer, host_tokenizer, in_graph_tokenizer,
                                     load_vocab, vocab_kind)
from electra_tf.vocab import build_sentencepiece_vocab, marked_morphemes, unused_tokens

@pytest.mark.parametrize("kind", KINDS)
def test_layout_and_kind_record(sentencepiece_vocabs, kind):
    tokens = load_vocab(sentencepiece_vocabs[kind])
    assert len(tokens) == VOCAB_SIZE
    assert tokens[:8] == SPECIAL_TOKENS + unused_tokens(3)
    assert vocab_kind(sentencepiece_vocabs[kind]) == kind and vocab_kind(os.path.dirname(sentencepiece_vocabs[kind])) == kind
    with open(os.path.join(os.path.dirname(sentencepiece_vocabs[kind]), "tokenizer_config.json"), encoding="utf-8") as handle:
        assert json.load(handle)["tokenizer_class"] == "PreTrainedTokenizerFast"


@pytest.mark.parametrize("kind", KINDS)
def test_ids_equal_across_host_in_graph_and_auto_tokenizer(sentencepiece_vocabs, kind):
    from transformers import AutoTokenizer

    lines = sentencepiece_lines()
    host = host_tokenizer(sentencepiece_vocabs[kind])
    assert isinstance(host, SentencePieceTokenizer)
    expected = host.encode_batch(lines)
    assert sum(map(len, expected)) > 10 * len(lines)
    in_graph = in_graph_tokenizer(sentencepiece_vocabs[kind]).token_ids(tf.constant(lines)).to_list()
    auto = AutoTokenizer.from_pretrained(os.path.dirname(sentencepiece_vocabs[kind]))
    theirs = [auto(line, add_special_tokens=False)["input_ids"] for line in lines]
    for line, ours, graph, their in zip(lines, expected, in_graph, theirs):
        assert ours == graph == their, f"{line!r}: host {ours}, in-graph {graph}, AutoTokenizer {their}"

    # pairs with [CLS]/[SEP], token types and padding (long enough that no truncation rule is involved)
    first, second = lines[:25], lines[25:50]
    ours = host.encode_batch_for_model(first, second, max_length=160)
    their = auto(first, second, padding="max_length", max_length=160, return_tensors="np")
    graph = in_graph_tokenizer(sentencepiece_vocabs[kind], max_length=160)(tf.constant(first), tf.constant(second))
    for name, value in ours.items():
        np.testing.assert_array_equal(value, their[name], err_msg=name)
        np.testing.assert_array_equal(value, graph[name].numpy(), err_msg=name)


def test_normalization_is_nfc_without_compatibility_folding(sentencepiece_vocabs):
    host = host_tokenizer(sentencepiece_vocabs["sentencepiece-unigram"])
    text = "한글 자모 ㅋㅋ"
    assert host.encode(unicodedata.normalize("NFD", text)) == host.encode(text)
    assert host.encode("한글\u200b 자모") == host.encode("한글 자모")  # a removed format character
    compatibility = host.tokenize("ㅋ")  # NFKC would turn the compatibility jamo into a conjoining one
    assert "".join(compatibility).replace("▁", "") in ("ㅋ", "[UNK]")
    assert host.encode("ㅋ") != host.encode(unicodedata.normalize("NFKC", "ㅋ"))


@pytest.mark.parametrize("kind", KINDS)
def test_offsets_point_at_each_piece(sentencepiece_vocabs, kind):
    host = host_tokenizer(sentencepiece_vocabs[kind])
    lines = [line for line in sentencepiece_lines() if unicodedata.is_normalized("NFC", line) and line.isprintable()]
    checked = 0
    for line, (ids, offsets) in zip(lines, host.encode_with_offsets(lines)):
        assert ids == host.encode(line)
        for piece, (start, end) in zip(host.convert_ids_to_tokens(ids), offsets):
            if piece != "[UNK]" and piece.strip("▁"):
                assert line[start:end] == piece.lstrip("▁"), (line, piece, start, end)
                checked += 1
    assert checked > 500


def test_shards_record_the_kind_and_pretraining_checks_it(sentencepiece_vocabs, tmp_path):
    vocab = sentencepiece_vocabs["sentencepiece-bpe"]
    stats = build_pretraining_data([SENTENCEPIECE_LINES], vocab, str(tmp_path / "shards"), max_seq_length=32,
                                   progress=False)
    assert stats["vocab_kind"] == "sentencepiece-bpe"
    assert vocab_kind(str(tmp_path / "shards" / "vocab.txt")) == "sentencepiece-bpe"  # the copy beside them
    pattern = str(tmp_path / "shards" / "*.tfrecord*")
    check_shards(pattern, 32, vocab, VOCAB_SIZE)
    record = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)[0])))
    ids = tf.train.Example.FromString(record.numpy()).features.feature["input_ids"].int64_list.value
    host = host_tokenizer(vocab)
    first = host.encode(sentencepiece_lines()[0])
    assert list(ids[1:1 + len(first)]) == first
    with open(tmp_path / "shards" / "stats.json", encoding="utf-8") as handle:
        written = json.load(handle)
    written["vocab_kind"] = "wordpiece"
    with open(tmp_path / "shards" / "stats.json", "w", encoding="utf-8") as handle:
        json.dump(written, handle)
    with pytest.raises(ValueError, match="sentencepiece-bpe but the shards were built with a wordpiece"):
        check_shards(pattern, 32, vocab, VOCAB_SIZE)


def test_vocab_size_below_the_characters_is_a_flag_error(tmp_path):
    with pytest.raises(ValueError, match="--vocab_size"):
        build_sentencepiece_vocab(SAMPLE_CORPUS, str(tmp_path / "small"), 100, "sentencepiece-unigram",
                                  show_progress=False)


@pytest.mark.slow
def test_vocab_corpus_pretraining_export_finetuning_saved_model(sentencepiece_vocabs, tmp_path):
    import keras
    from transformers import AutoTokenizer

    from electra_tf.finetuning.config import load_hparams
    from electra_tf.finetuning.run import finetune
    from electra_tf.finetuning.tasks import get_task
    from electra_tf.pretraining import loop, transfer
    from electra_tf.pretraining.config import PretrainingConfig
    from electra_tf.data.pretraining_dataset import make_pretraining_input_fn
    from electra_tf import rundir
    from electra_tf.tokenization import special_token_ids

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    vocab = sentencepiece_vocabs["sentencepiece-unigram"]
    shards = str(tmp_path / "shards")
    build_pretraining_data([SAMPLE_CORPUS], vocab, shards, max_seq_length=32, progress=False)
    config = PretrainingConfig.from_json_file(os.path.join(root, "configs", "pretrain", "tiny.json"), {
        "train_steps": 4, "save_checkpoints_steps": 4, "log_steps": 2, "steps_per_execution": 2,
        "warmup_steps": 1, "max_seq_length": 32})
    tokens = load_vocab(os.path.join(shards, "vocab.txt"))
    discriminator_config = config.discriminator_config(vocab_size=len(tokens))
    model_dir = str(tmp_path / "run")
    rundir.save_run_configs(model_dir, config, discriminator_config)
    keras.utils.set_random_seed(0)
    run = loop.PretrainingRun(config, discriminator_config, special_token_ids(tokens), model_dir,
                              tf.distribute.get_strategy())
    loop.train(run, make_pretraining_input_fn(os.path.join(shards, "*.tfrecord*"), 32, config.train_batch_size,
                                              seed=1), log_fn=lambda line: None)
    exported = transfer.export(run, os.path.join(shards, "vocab.txt"))
    discriminator = exported["discriminator"]
    assert vocab_kind(os.path.join(discriminator, "vocab.txt")) == "sentencepiece-unigram"
    lines = sentencepiece_lines()
    auto = AutoTokenizer.from_pretrained(discriminator)
    host = host_tokenizer(vocab)
    assert [auto(line, add_special_tokens=False)["input_ids"] for line in lines] == host.encode_batch(lines)

    task = get_task("nsmc")
    hparams = load_hparams(os.path.join(root, "configs", "finetune", "tiny.json"), "nsmc",
                           {"num_train_epochs": 1, "max_steps_per_epoch": 2, "max_seq_length": 32})
    results = finetune(task, hparams, discriminator, fixture_dir("nsmc"), str(tmp_path / "nsmc"), progress=False)
    assert vocab_kind(os.path.join(results["model_dir"], "vocab.txt")) == "sentencepiece-unigram"
    served = tf.saved_model.load(results["saved_model_dir"]).signatures["predict_text"]
    outputs = served(text=tf.constant(lines[:8]))
    expected = host.encode_batch_for_model(lines[:8], max_length=32)
    width = outputs["input_ids"].shape[1]
    np.testing.assert_array_equal(outputs["input_ids"].numpy(), expected["input_ids"][:, :width])
    assert outputs["probabilities"].shape == (8, 2)


def test_morpheme_starts_inside_words_become_cut_marks():
    assert marked_morphemes("아버지가 방에", {0, 3, 5, 6}) == "아버지\ue000가 방\ue000에"
