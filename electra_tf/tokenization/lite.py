"""`LiteWordPiece`: WordPiece ids with ops LiteRT runs (`tensorflow-text`'s FastBertNormalizer and
FastWordpieceTokenizer, which splits words itself), for `.tflite` models that take raw text.

The ids are `InGraphTokenizer`'s for NFC text; unlike it, no NFC is applied (LiteRT has no such op), format
characters such as U+200B split words instead of vanishing, and special tokens written in a text are split.
"""

import tensorflow as tf

from electra_tf.tokenization.in_graph import InGraphAssembly
from electra_tf.tokenization.vocab_files import UNK_TOKEN


class LiteWordPiece(InGraphAssembly):
    """Keras layer: strings ``[batch]`` → int32 model inputs ``[batch, max_length]``, with LiteRT's ops."""

    def __init__(self, vocab, max_length=128, max_input_chars_per_word=100, **kwargs):
        super().__init__(vocab, max_length, **kwargs)
        import tensorflow_text as tf_text

        self._normalizer = tf_text.FastBertNormalizer(lower_case_nfd_strip_accents=False)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.tokens, suffix_indicator="##", max_bytes_per_word=4 * int(max_input_chars_per_word),
            token_out_type=tf.int32, unknown_token=UNK_TOKEN, no_pretokenization=False,
            support_detokenization=False)

    def token_ids(self, text):
        """Ragged int32 ``[batch, None]`` WordPiece ids of a ``[batch]`` string tensor (no special tokens)."""
        ids = self._wordpiece.tokenize(self._normalizer.normalize(text))
        return ids.with_row_splits_dtype(tf.int64)
