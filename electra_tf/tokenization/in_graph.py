"""`InGraphTokenizer`: a Keras layer on `tensorflow-text` (`FastWordpieceTokenizer`) for `tf.data`,
`tf.function` and SavedModels, giving the ids of `FastTokenizer` (and transformers); its vocabulary is a
constant inside the graph.

The basic tokenizer is rebuilt from RE2 patterns of `characters.character_class_patterns` (removal, NFC,
splitting on whitespace, isolating punctuation and Hanja, keeping the special tokens written in the text
whole); words longer than `max_input_chars_per_word` characters become ``[UNK]``.
"""

import keras
import tensorflow as tf

from electra_tf.tokenization.characters import character_class_patterns
from electra_tf.tokenization.pairs import longest_first_removals, window_plan
from electra_tf.tokenization.vocab_files import SPECIAL_TOKENS, UNK_TOKEN, load_checked_vocab, special_token_ids


def _escape_literal(text):
    return "".join("\\" + char if not char.isalnum() else char for char in text)


class InGraphAssembly(keras.layers.Layer):
    """What both in-graph tokenizers share: the vocabulary's special ids and ``[CLS] A [SEP] (B [SEP])``
    assembly of the ids their `token_ids` give (`call`, `build_model_inputs`)."""

    def __init__(self, tokens, max_length=128, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self.tokens = load_checked_vocab(tokens)
        self.max_length = int(max_length)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = special_token_ids(self.tokens).values()

    def call(self, text, text_pair=None):
        text = tf.convert_to_tensor(text, dtype=tf.string)
        scalar = text.shape.rank == 0
        if scalar:
            text = text[tf.newaxis]
        ids_a = self.token_ids(text)
        ids_b = None
        if text_pair is not None:
            text_pair = tf.convert_to_tensor(text_pair, dtype=tf.string)
            ids_b = self.token_ids(text_pair[tf.newaxis] if scalar else text_pair)
        outputs = self.build_model_inputs(ids_a, ids_b)
        if scalar:
            outputs = {name: value[0] for name, value in outputs.items()}
        return outputs

    def build_model_inputs(self, ids_a, ids_b=None, bucket_width=None):
        """Ragged ids → padded ``[CLS] A [SEP] (B [SEP])`` dict of int32 ``[batch, width]``: width `max_length`
        (static), or with `bucket_width` the batch's longest row rounded up by `bucketed_length` (dynamic).

        Built densely: each position takes [CLS], a token of A or B, [SEP] or padding by where it falls among
        the kept lengths (a few dozen ops; concatenating ragged tensors took several hundred, which a request
        of one short text pays in full).
        """
        length_a = ids_a.row_lengths()
        if ids_b is None:
            keep_a = tf.minimum(length_a, max(self.max_length - 2, 0))
            keep_b, specials = tf.zeros_like(keep_a), 2
        else:
            length_b = ids_b.row_lengths()
            remove_a, remove_b = longest_first_removals(length_a, length_b, self.max_length - 3,
                                                        xp=tf.experimental.numpy)
            keep_a, keep_b, specials = length_a - remove_a, length_b - remove_b, 3
        length = keep_a + keep_b + specials
        width = self.max_length
        if bucket_width is not None:
            width = bucketed_length(tf.reduce_max(tf.pad(length, [[0, 1]])), bucket_width, self.max_length)
        grid = tf.range(width, dtype=tf.int64)[None, :] + tf.zeros_like(length)[:, None]  # [batch, width]
        end_a = keep_a[:, None] + 1  # where A's [SEP] goes
        ids = tf.where(grid < end_a, _tokens_at(ids_a, grid - 1), self.pad_id)
        ids = tf.where(grid == 0, self.cls_id, tf.where(grid == end_a, self.sep_id, ids))
        types = tf.zeros_like(ids)
        if ids_b is not None:
            end_b = end_a + keep_b[:, None] + 1  # where B's [SEP] goes
            in_b = (grid > end_a) & (grid <= end_b)
            ids = tf.where(in_b, tf.where(grid == end_b, self.sep_id, _tokens_at(ids_b, grid - end_a - 1)), ids)
            types = tf.cast(in_b, tf.int32)
        return {"input_ids": ids, "attention_mask": tf.cast(grid < length[:, None], tf.int32),
                "token_type_ids": types}

    def build_window_inputs(self, ids_a, ids_b=None, stride=64, bucket_width=None):
        """Ragged ids → the model inputs of every row's windows (`pairs.window_plan`, as the host-side
        `pairs.window_batch`), and the row of each window (int64, ascending)."""
        xp = tf.experimental.numpy
        length_a = ids_a.row_lengths()
        length_b = None if ids_b is None else ids_b.row_lengths()
        keep_a, keep_b, count, step = window_plan(length_a, length_b, self.max_length, stride, xp=xp)
        rows = tf.repeat(tf.range(tf.size(length_a, out_type=tf.int64)), count)
        index = tf.ragged.range(count).flat_values  # each window's number within its row
        start = tf.minimum(index * tf.gather(step, rows), tf.gather(length_a - keep_a, rows))
        begin_a = tf.gather(ids_a.row_splits[:-1], rows) + start
        window_a = tf.gather(ids_a.flat_values, tf.ragged.range(begin_a, begin_a + tf.gather(keep_a, rows)))
        window_b = None
        if ids_b is not None:
            begin_b = tf.gather(ids_b.row_splits[:-1], rows)
            window_b = tf.gather(ids_b.flat_values, tf.ragged.range(begin_b, begin_b + tf.gather(keep_b, rows)))
        return self.build_model_inputs(window_a, window_b, bucket_width), rows


class InGraphTokenizer(InGraphAssembly):
    """Keras layer: strings ``[batch]`` (and optional second segment) → int32 ``input_ids``,
    ``attention_mask``, ``token_type_ids`` ``[batch, max_length]``, as `FastTokenizer.encode_for_model`.

    A scalar string gives ``[max_length]`` tensors. Works inside `tf.data.Dataset.map`, `tf.function`
    and a SavedModel (the vocabulary is a constant of the WordPiece op).
    """

    def __init__(self, vocab, max_length=128, max_input_chars_per_word=100, **kwargs):
        super().__init__(vocab, max_length, **kwargs)
        import tensorflow_text as tf_text

        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.tokens, suffix_indicator="##", max_bytes_per_word=4 * self.max_input_chars_per_word,
            token_out_type=tf.int32, unknown_token=UNK_TOKEN, no_pretokenization=True)
        removed, whitespace, isolated = character_class_patterns()
        specials = "|".join(_escape_literal(token) for token in SPECIAL_TOKENS)
        self._removed_pattern = removed
        self._delimiter_pattern = f"{specials}|{whitespace}+|{isolated}"
        self._keep_pattern = f"{specials}|{isolated}"

    def get_config(self):
        config = super().get_config()
        config.update(vocab=list(self.tokens), max_length=self.max_length,
                      max_input_chars_per_word=self.max_input_chars_per_word)
        return config

    def normalize(self, text):
        """transformers' character clean-up, then NFC: the text that `word_pieces` offsets point into."""
        import tensorflow_text as tf_text

        return tf_text.normalize_utf8(tf.strings.regex_replace(text, self._removed_pattern, ""), "NFC")

    def word_pieces(self, text):
        """Splits a ``[batch]`` string tensor into words and WordPiece ids.

        Returns ``(words, begins, ends, pieces)``: ragged ``[batch, words]`` strings and their byte offsets in
        `normalize(text)`, and ragged int32 ``[batch, words, pieces]`` ids.
        """
        import tensorflow_text as tf_text

        words, begins, ends = tf_text.regex_split_with_offsets(
            self.normalize(text), self._delimiter_pattern, self._keep_pattern)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > self.max_input_chars_per_word
        flat_words = tf.where(too_long, UNK_TOKEN, words.flat_values)
        return words, begins, ends, words.with_flat_values(self._wordpiece.tokenize(flat_words))

    def token_ids(self, text):
        """Ragged int32 ``[batch, None]`` WordPiece ids of a ``[batch]`` string tensor (no special tokens)."""
        return self.word_pieces(text)[3].merge_dims(1, 2)

    def distinct_chunk_token_ids(self, text):
        """`token_ids`, computed once per distinct space-separated chunk of the batch: for corpora, where
        chunks repeat heavily, several times faster on large batches.

        Exact: U+0020 always separates words, and the clean-up and NFC are character-local (NFC never
        composes across a space), so the ids of ``"X Y"`` are those of ``"X"`` then those of ``"Y"``.
        """
        chunks = tf.strings.split(text, sep=" ")
        distinct, index = tf.unique(chunks.flat_values)
        chunk_ids = tf.gather(self.token_ids(distinct), index)
        return chunks.with_flat_values(chunk_ids).merge_dims(1, 2)

# Length buckets: batches and raw-text requests are padded to a multiple of this many tokens (fine-tuning's
# `bucket_width` hparam, the SavedModel's raw-text signatures).
DEFAULT_BUCKET_WIDTH = 16


def bucketed_length(length, bucket_width, max_length):
    """`length` (an integer tensor) rounded up to a multiple of `bucket_width`, at most `max_length`."""
    return tf.minimum((length + bucket_width - 1) // bucket_width * bucket_width, max_length)


def _tokens_at(ragged, offsets):
    """``ragged[i, offsets[i, j]]`` for an int64 ``[batch, width]`` grid; offsets out of a row give any of its
    values or 0 (callers take another value there)."""
    dense = tf.pad(ragged.to_tensor(), [[0, 0], [0, 1]])  # at least one column, also for empty rows
    last = tf.shape(dense, out_type=tf.int64)[1] - 1
    return tf.gather(dense, tf.clip_by_value(offsets, 0, last), batch_dims=1)
