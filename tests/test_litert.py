"""LiteRT export: the `.tflite` model, run in the LiteRT interpreter with tensorflow-text's ops, gives the labels
and probabilities of the SavedModel's `predict_text` on raw text, for WordPiece and SentencePiece unigram
vocabularies; what LiteRT's ops cannot express is refused."""

import os
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import SAMPLE_VOCAB, sentencepiece_lines, tiny_config

from electra_tf import litert
from electra_tf.models import build_model
from electra_tf.serving import ServingModule
from electra_tf.tokenization import InGraphTokenizer, lite_tokenizer, load_vocab

MAX_LENGTH = 48


def _classifier(vocab_file, num_labels=2):
    keras.utils.set_random_seed(0)
    config = tiny_config(len(load_vocab(vocab_file))).with_labels([f"L{index}" for index in range(num_labels)])
    return build_model(config, "sequence_classification")


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece-unigram"])
def test_tflite_gives_the_saved_model_predictions(kind, sentencepiece_vocabs, tmp_path):
    vocab = SAMPLE_VOCAB if kind == "wordpiece" else sentencepiece_vocabs[kind]
    model = _classifier(vocab)
    lines = sentencepiece_lines()
    serving = ServingModule(model, vocab, max_length=MAX_LENGTH)
    expected = serving.predict_text(tf.constant(lines))
    path = litert.export_litert(model, str(tmp_path / "lite"), vocab, max_length=MAX_LENGTH)
    ours = litert.predict(litert.interpreter(path), lines)
    np.testing.assert_array_equal(ours["label_ids"], expected["label_ids"].numpy())
    worst = float(np.abs(ours["probabilities"] - expected["probabilities"].numpy()).max())
    assert worst <= 1e-4, worst
    one = litert.predict(litert.interpreter(path), lines[:1])  # one string: a batch of one
    np.testing.assert_allclose(one["probabilities"], ours["probabilities"][:1], atol=1e-5)


def test_lite_wordpiece_ids_equal_in_graph_ones_on_nfc_text():
    lines = [line for line in sentencepiece_lines()
             if line.isprintable() and "[" not in line and unicodedata.is_normalized("NFC", line)]
    assert len(lines) > 40
    expected = InGraphTokenizer(SAMPLE_VOCAB).token_ids(tf.constant(lines)).to_list()
    assert lite_tokenizer(SAMPLE_VOCAB).token_ids(tf.constant(lines)).to_list() == expected


def test_dynamic_int8_is_smaller_and_a_regression_head_gives_a_score(tmp_path):
    model = _classifier(SAMPLE_VOCAB, num_labels=1)
    lines = sentencepiece_lines()[:8]
    serving = ServingModule(model, SAMPLE_VOCAB, max_length=MAX_LENGTH)
    expected = serving.predict_text(tf.constant(lines))
    full = litert.convert(model, SAMPLE_VOCAB, MAX_LENGTH)
    small = litert.convert(model, SAMPLE_VOCAB, MAX_LENGTH, quantize="dynamic_int8")
    assert len(small) < 0.8 * len(full)
    for content, tolerance in ((full, 1e-4), (small, 0.05)):
        scores = litert.predict(litert.interpreter(content), lines)["score"]
        np.testing.assert_allclose(scores, expected["score"].numpy(), atol=tolerance)


def test_what_litert_cannot_express_is_a_flag_error(sentencepiece_vocabs):
    with pytest.raises(ValueError, match="--vocab: a sentencepiece-bpe vocabulary cannot be tokenized"):
        bpe = sentencepiece_vocabs["sentencepiece-bpe"]
        litert.convert(_classifier(bpe), bpe)
    keras.utils.set_random_seed(0)
    encoder = build_model(tiny_config(len(load_vocab(SAMPLE_VOCAB))), "encoder")
    with pytest.raises(ValueError, match="--head: a encoder head cannot be exported"):
        litert.convert(encoder, SAMPLE_VOCAB)
    with pytest.raises(ValueError, match="--quantize"):
        litert.convert(_classifier(SAMPLE_VOCAB), SAMPLE_VOCAB, quantize="int4")
