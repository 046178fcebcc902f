"""`InGraphSentencePiece`: a Keras layer on `tensorflow-text`'s SentencepieceTokenizer, giving the ids of
`SentencePieceTokenizer` in `tf.data`, `tf.function` and SavedModels (the model is a constant of the graph).

Each piece is its own "word" for the raw-text signatures: `word_pieces` returns one piece per word, with its
byte span in the text as given (`normalize` is the identity: the model normalizes inside its op).
"""

import tensorflow as tf

from electra_tf.tokenization.in_graph import InGraphAssembly
from electra_tf.tokenization.sp_files import model_pieces, read_model


class InGraphSentencePiece(InGraphAssembly):
    """Keras layer: strings ``[batch]`` (and optional second segment) → int32 ``input_ids``,
    ``attention_mask``, ``token_type_ids`` ``[batch, max_length]``, as `SentencePieceTokenizer`."""

    def __init__(self, model, max_length=128, **kwargs):
        """`model`: the serialized SentencePiece model (bytes) or a ``vocab.txt`` path beside its file."""
        if not isinstance(model, bytes):
            model = read_model(model)
        super().__init__([piece for piece, _, _ in model_pieces(model)[1]], max_length, **kwargs)
        import tensorflow_text as tf_text

        self.model = model
        self._sentencepiece = tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
        # the ids: for unigram models the "fast" op, which breaks ties between equal-score segmentations
        # ("!" "!!" / "!!" "!") as the sentencepiece library does; the older op does for BPE
        unigram = model_pieces(model)[0].trainer_spec.model_type == 1
        self._ids = tf_text.FastSentencepieceTokenizer(model) if unigram else self._sentencepiece

    def get_config(self):
        config = super().get_config()
        config.update(model=self.model, max_length=self.max_length)
        return config

    def normalize(self, text):
        """The text that `word_pieces` offsets point into: `text` itself."""
        return text

    def word_pieces(self, text):
        """``(words, begins, ends, pieces)`` of a ``[batch]`` string tensor: ragged ``[batch, pieces]`` piece
        strings and byte spans (a leading space left out), and ragged int32 ``[batch, pieces, 1]`` ids.

        The spans come from the op with offsets; where it breaks a tie differently from `token_ids` (runs of
        one character), a row's spans may be off by pieces."""
        ids = self.token_ids(text)
        _, begins, ends = self._sentencepiece.tokenize_with_offsets(text)
        begins, ends = _fit(begins, ids), _fit(ends, ids)
        rows = ids.value_rowids()
        first_byte = tf.strings.substr(tf.gather(text, rows), begins.flat_values, tf.ones_like(begins.flat_values))
        skip = tf.cast((first_byte == " ") & (begins.flat_values < ends.flat_values), begins.dtype)
        begins = begins.with_flat_values(begins.flat_values + skip)
        words = ids.with_flat_values(self._sentencepiece.id_to_string(ids.flat_values))
        pieces = ids.with_flat_values(tf.RaggedTensor.from_row_lengths(
            ids.flat_values, tf.ones_like(ids.flat_values, tf.int64)))
        return words, begins, ends, pieces

    def token_ids(self, text):
        """Ragged int32 ``[batch, None]`` ids of a ``[batch]`` string tensor (no special tokens)."""
        ids = self._ids.tokenize(text)
        return tf.cast(ids, tf.int32).with_row_splits_dtype(tf.int64)

    def distinct_chunk_token_ids(self, text):
        """`token_ids` (what `LineTokenizer` calls; pieces may not split at every space)."""
        return self.token_ids(text)


def _fit(values, like):
    """Ragged `values` cut, or padded with each row's last value, to the row lengths of ragged `like`."""
    dense = tf.pad(values.to_tensor(), [[0, 0], [0, 1]])
    last = tf.maximum(values.row_lengths() - 1, 0)
    index = tf.minimum(tf.ragged.range(like.row_lengths()), tf.cast(last, like.row_splits.dtype)[:, None])
    return tf.gather(dense, index, batch_dims=1)
