"""What the tasks need from the tokenizer, on top of `electra_tf.tokenization.FastTokenizer`.

Batch encoding without special tokens comes from the public API; character offsets (KorQuAD) come from the
Hugging Face `tokenizers.Tokenizer` the fast tokenizer wraps (a private copy with truncation and padding off).
`build_batch` pads the `[CLS] a [SEP] (b [SEP])` rows of `tokenization.pair_with_specials` (transformers'
longest-first truncation) and counts the truncated rows.
"""

import numpy as np

from electra_tf.tokenization import FastTokenizer, pair_with_specials


def _ids(encoded):
    return list(encoded.ids) if hasattr(encoded, "ids") else list(encoded)


def _find_backend(tokenizer):
    import tokenizers

    if isinstance(tokenizer, tokenizers.Tokenizer):
        return tokenizer
    for name in ("backend", "tokenizer", "_tokenizer", "hf_tokenizer", "_backend"):
        candidate = getattr(tokenizer, name, None)
        if isinstance(candidate, tokenizers.Tokenizer):
            return candidate
    for candidate in vars(tokenizer).values():
        if isinstance(candidate, tokenizers.Tokenizer):
            return candidate
    raise TypeError(f"{type(tokenizer).__name__} exposes no tokenizers.Tokenizer (needed for character offsets)")


class TokenizerAdapter:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.cls_id = tokenizer.cls_id
        self.sep_id = tokenizer.sep_id
        self.pad_id = tokenizer.pad_id
        self.unk_id = tokenizer.unk_id
        self._offsets_backend = None

    @classmethod
    def from_vocab_file(cls, path):
        return cls(FastTokenizer.from_vocab_file(path))

    def encode_batch(self, texts):
        """Token ids (no special tokens) of each text."""
        if not texts:
            return []
        return [_ids(encoded) for encoded in self.tokenizer.encode_batch(list(texts))]

    def encode_with_offsets(self, texts):
        """`(ids, offsets)` per text, offsets `(start, end)` character positions in the given string."""
        if self._offsets_backend is None:
            import tokenizers

            backend = tokenizers.Tokenizer.from_str(_find_backend(self.tokenizer).to_str())
            backend.no_truncation()
            backend.no_padding()
            self._offsets_backend = backend
        encodings = self._offsets_backend.encode_batch(list(texts), add_special_tokens=False)
        return [(list(e.ids), [tuple(offset) for offset in e.offsets]) for e in encodings]

    def build_batch(self, first, second, max_length):
        """Padded int32 `input_ids`, `token_type_ids`, `attention_mask` [N, max_length] and the number of
        rows that had to be truncated."""
        count = len(first)
        ids = np.full((count, max_length), self.pad_id, np.int32)
        types = np.zeros((count, max_length), np.int32)
        mask = np.zeros((count, max_length), np.int32)
        truncated = 0
        for row in range(count):
            b = second[row] if second is not None else None
            tokens, token_types, cut = pair_with_specials(first[row], b, max_length, self.cls_id, self.sep_id)
            truncated += cut
            ids[row, :len(tokens)] = tokens
            types[row, :len(tokens)] = token_types
            mask[row, :len(tokens)] = 1
        return ids, types, mask, truncated
