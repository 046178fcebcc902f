"""`SentencePieceTokenizer`: the host-side tokenizer of a SentencePiece vocabulary (the `sentencepiece`
library), with the surface of `FastTokenizer`: ids, character offsets (KorQuAD) and model inputs."""

from electra_tf.tokenization.host import HostTokenizer
from electra_tf.tokenization.sp_files import model_pieces, read_model


class SentencePieceTokenizer(HostTokenizer):
    """A SentencePiece model's ids (the normalization is the model's own, see `sp_files`)."""

    def __init__(self, model):
        """`model`: the serialized SentencePiece model (bytes)."""
        import sentencepiece

        super().__init__([piece for piece, _, _ in model_pieces(model)[1]])
        self.model = model
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model)

    @classmethod
    def from_vocab_file(cls, path):
        """The tokenizer of the ``sentencepiece.model`` beside a ``vocab.txt`` (or in its directory)."""
        return cls(read_model(path))

    def tokenize(self, text):
        """The pieces of `text` (no special tokens added)."""
        return [self.tokens[index] for index in self.encode(text)]

    def encode(self, text):
        """Token ids of `text` (no special tokens added)."""
        return self._processor.encode(text)

    def encode_batch(self, texts):
        """Token ids of each text."""
        return self._processor.encode(list(texts))

    def encode_with_offsets(self, texts):
        """``(ids, offsets)`` per text: the ids of `encode_batch` and, per token, its ``(start, end)`` character
        span in the text as given (the space a ``▁`` stands for left out)."""
        output = []
        for text in texts:
            encoded = self._processor.encode(text, out_type="proto")
            starts = _byte_to_char(text)
            ids, offsets = [], []
            for piece in encoded.pieces:
                start, end = starts[piece.begin], starts[piece.end]
                while start < end and text[start].isspace():
                    start += 1
                ids.append(piece.id)
                offsets.append((start, end))
            output.append((ids, offsets))
        return output

    def decode(self, ids, skip_special_tokens=True):
        special = {self.pad_id, self.cls_id, self.sep_id, self.mask_id} if skip_special_tokens else set()
        return self._processor.decode([index for index in ids if index not in special])


def _byte_to_char(text):
    """``starts[b]``: the index of the character that UTF-8 byte `b` of `text` belongs to (one past the end
    at ``len(bytes)``)."""
    starts = []
    for index, char in enumerate(text):
        starts.extend([index] * len(char.encode("utf-8")))
    starts.append(len(text))
    return starts
