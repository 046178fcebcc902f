"""`LineTokenizer`: the ids of many corpus lines at once, for `electra_tf.data`."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from electra_tf.tokenization.vocab_files import load_checked_vocab
from electra_tf.tokenization.vocab_kinds import in_graph_tokenizer


class LineTokenizer:
    """Ids of many lines at once, as the host tokenizer's `encode_batch` gives them: the in-graph
    tokenizer's `distinct_chunk_token_ids` in a `tf.function` (its ops run without the GIL, so a block is
    tokenized while the previous one is packed).

    The vocabulary is read and checked at once; the layer is built and its graph traced and run once in a
    background thread, while the caller goes on reading the corpus.
    """

    def __init__(self, vocab_file):
        self.vocab_file = vocab_file
        self.tokens = load_checked_vocab(vocab_file)
        background = ThreadPoolExecutor(1)
        self._encode = background.submit(self._build_encoder)
        background.shutdown(wait=False)  # the thread ends once the encoder is built

    def _build_encoder(self):
        layer = in_graph_tokenizer(self.vocab_file)

        def flat_ids(lines):
            ids = layer.distinct_chunk_token_ids(lines)
            return ids.flat_values, ids.row_lengths()

        encode = tf.function(flat_ids, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        encode(tf.constant(["warm up"]))
        return encode

    def encode_lines(self, lines):
        """Returns the ids of all `lines` concatenated (int32) and the number of ids of each line."""
        if not lines:
            return np.zeros([0], np.int32), np.zeros([0], np.int64)
        ids, lengths = self._encode.result()(tf.constant(np.array(lines, dtype=object)))
        return ids.numpy(), lengths.numpy()
