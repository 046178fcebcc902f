"""`FastTokenizer`: the host-side tokenizer (Hugging Face `tokenizers`, Rust) for preprocessing and features.

BertWordPiece with no lower-casing and no accent stripping, then NFC; before the Rust tokenizer sees a text,
`characters.prepare_text` applies Python's character classes, so the ids are transformers' (tested on
2,000+ lines). Character offsets (KorQuAD) point into the text as given, before that preparation.
"""

import unicodedata

from electra_tf.tokenization.characters import original_offsets, prepare_text, prepare_text_with_origins
from electra_tf.tokenization.pairs import assemble_batch, window_batch
from electra_tf.tokenization.vocab_files import (SPECIAL_TOKENS, UNK_TOKEN, check_vocab, load_checked_vocab,
                                                 special_token_ids)


class HostTokenizer:
    """What both host tokenizers share: the vocabulary (`tokens`, special ids) and ``[CLS] A [SEP] (B [SEP])``
    assembly of the ids their `encode_batch` gives."""

    def __init__(self, tokens):
        self.tokens = check_vocab(list(tokens))
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = special_token_ids(self.tokens).values()

    @property
    def vocab_size(self):
        return len(self.tokens)

    def convert_ids_to_tokens(self, ids):
        return [self.tokens[index] for index in ids]

    def build_batch(self, first, second, max_length):
        """Id lists → padded int32 ``input_ids``, ``token_type_ids``, ``attention_mask`` ``[N, max_length]``
        (see `pairs.assemble_batch`; `second` may be None) and the number of rows that were truncated."""
        inputs, truncated = assemble_batch(first, second, max_length, self.cls_id, self.sep_id, self.pad_id)
        return inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"], truncated

    def build_windows(self, first, second, max_length, stride):
        """Id lists → every row's windows (`pairs.window_batch`): ``input_ids``, ``token_type_ids``,
        ``attention_mask`` ``[W, max_length]``, the row of each window and how many rows needed several."""
        inputs, rows, split = window_batch(first, second, max_length, stride, self.cls_id, self.sep_id,
                                           self.pad_id)
        return inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"], rows, split

    def encode_batch_for_model(self, texts, text_pairs=None, max_length=128):
        """Like ``ElectraTokenizer(texts, text_pairs, truncation=True, max_length=L, padding="max_length")``:
        a dict of int32 arrays ``[batch, max_length]``."""
        ids_b = None if text_pairs is None else self.encode_batch(text_pairs)
        inputs, _ = assemble_batch(self.encode_batch(texts), ids_b, max_length, self.cls_id, self.sep_id,
                                   self.pad_id)
        return inputs

    def encode_for_model(self, text, text_pair=None, max_length=128):
        """`encode_batch_for_model` of one text (and pair), as lists."""
        inputs = self.encode_batch_for_model([text], None if text_pair is None else [text_pair], max_length)
        return {name: value[0].tolist() for name, value in inputs.items()}


class FastTokenizer(HostTokenizer):
    """Hugging Face `tokenizers` BertWordPiece (no lower-casing, no accent stripping, NFC) over a vocab."""

    def __init__(self, tokens, max_input_chars_per_word=100):
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

        super().__init__(tokens)
        self.max_input_chars_per_word = max_input_chars_per_word
        vocab = {token: index for index, token in enumerate(self.tokens)}
        tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=UNK_TOKEN,
                                               max_input_chars_per_word=max_input_chars_per_word))
        tokenizer.normalizer = normalizers.Sequence([
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                       lowercase=False),
            normalizers.NFC(),
        ])
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        tokenizer.add_special_tokens(SPECIAL_TOKENS)
        self._tokenizer = tokenizer  # no truncation, no padding: `assemble_batch` does both

    @classmethod
    def from_vocab_file(cls, path, max_input_chars_per_word=100):
        return cls(load_checked_vocab(path), max_input_chars_per_word)

    def tokenize(self, text):
        """WordPiece tokens of `text` (no special tokens added)."""
        return self._tokenizer.encode(prepare_text(text), add_special_tokens=False).tokens

    def encode(self, text):
        """Token ids of `text` (no special tokens added)."""
        return self._tokenizer.encode(prepare_text(text), add_special_tokens=False).ids

    def encode_batch(self, texts):
        """Token ids of each text, tokenized in parallel by the Rust batch path."""
        prepared = [prepare_text(text) for text in texts]
        return [encoding.ids for encoding in self._tokenizer.encode_batch(prepared, add_special_tokens=False)]

    def encode_with_offsets(self, texts):
        """``(ids, offsets)`` per text: the ids of `encode_batch` and, per token, its ``(start, end)``
        character span in the text as given (characters the preparation removed or spaced included)."""
        prepared = [prepare_text_with_origins(text) for text in texts]
        encodings = self._tokenizer.encode_batch([text for text, _ in prepared], add_special_tokens=False)
        return [(encoding.ids, original_offsets(_whole_composed_ends(ready, encoding.offsets), origins, len(text)))
                for text, (ready, origins), encoding in zip(texts, prepared, encodings)]

    def decode(self, ids, skip_special_tokens=True):
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)


def _whole_composed_ends(text, offsets):
    """`offsets` into `text` with each end moved past the characters NFC composed into the token's last one:
    the Rust tokenizer aligns a composed character with its first source character only, so a token ending in
    an NFD syllable (``ᄋ ᅳ ᆷ`` → ``음``) would lose its trailing jamo."""
    if unicodedata.is_normalized("NFC", text):
        return offsets
    widened = []
    for start, end in offsets:
        if start < end:
            width = len(unicodedata.normalize("NFC", text[start:end]))
            while end < len(text) and len(unicodedata.normalize("NFC", text[start:end + 1])) == width:
                end += 1
        widened.append((start, end))
    return widened
