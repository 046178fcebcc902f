"""WordPiece tokenizers that give the ids of `transformers.ElectraTokenizer(vocab, do_lower_case=False)`.

Two implementations over one ``vocab.txt``:

- `FastTokenizer`: Hugging Face `tokenizers` (Rust) for corpus building and preprocessing on the host.
- `InGraphTokenizer`: a Keras layer on `tensorflow-text` (`FastWordpieceTokenizer`) for `tf.data`,
  `tf.function` and SavedModels; its vocabulary is a constant inside the graph.

Both reproduce transformers' BERT basic tokenizer with ``do_lower_case=False``: characters that are NUL,
U+FFFD or of a "C*" category (except tab/newline/CR) are removed; the text is NFC-normalized (transformers
does that itself); it is split on whitespace, every punctuation character (Unicode "P*" and the ASCII
symbols ``$ + < = > ^ ` | ~``) and every CJK ideograph (Hanja) becomes a token of its own; the special
tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` written in the text stay whole; words longer than
`max_input_chars_per_word` characters become ``[UNK]``; no lower-casing and no accent stripping (which
would decompose Hangul into conjoining jamo). The character classes are computed from Python's
`unicodedata`, the same table transformers uses, so the in-graph layer does not depend on RE2's
Unicode version. Pairs are truncated with transformers' ``longest_first`` rule.

The module is the one tokenizer surface: special-token ids (`special_token_ids`), ``[CLS] A [SEP] B [SEP]``
assembly (`pair_with_specials` on the host, `InGraphTokenizer.build_model_inputs` in graph) and
`LineTokenizer` (many corpus lines at once, for `electra_tf.data`).
"""

import functools
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import tensorflow as tf

from electra_tf.io_utils import atomic_file, write_json

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = SPECIAL_TOKENS
MODEL_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def load_vocab(path):
    """Returns the tokens of a ``vocab.txt`` (one per line, id = line index)."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    with tf.io.gfile.GFile(path, "rb") as handle:
        tokens = handle.read().decode("utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [token.rstrip("\r") for token in tokens]
    if not tokens:
        raise ValueError(f"Vocabulary file is empty: {path}")
    return tokens


def check_vocab(tokens, source="vocabulary"):
    """Raises unless every special token is present exactly once."""
    seen = {}
    for index, token in enumerate(tokens):
        if token in seen:
            raise ValueError(f"{source}: token {token!r} appears twice (lines {seen[token] + 1} and {index + 1})")
        seen[token] = index
    missing = [token for token in SPECIAL_TOKENS if token not in seen]
    if missing:
        raise ValueError(f"{source}: missing special token(s) {missing}")
    return tokens


def load_checked_vocab(vocab):
    """A vocab given as a path or a list of tokens, as a checked list (see `check_vocab`)."""
    if isinstance(vocab, (str, os.PathLike)):
        return check_vocab(load_vocab(os.fspath(vocab)), source=os.fspath(vocab))
    return check_vocab(list(vocab))


def special_token_ids(tokens):
    """Ids of the special tokens in `tokens` (first occurrence), as ``{"pad", "unk", "cls", "sep", "mask"}``;
    raises when one is missing (ids are looked up, never assumed)."""
    index = {}
    for position, token in enumerate(tokens):
        index.setdefault(token, position)
    missing = [token for token in SPECIAL_TOKENS if token not in index]
    if missing:
        raise ValueError(f"The vocabulary lacks the special tokens {missing}")
    return dict(zip(("pad", "unk", "cls", "sep", "mask"), (index[token] for token in SPECIAL_TOKENS)))


def longest_first_removals(length_a, length_b, budget, xp=np):
    """Tokens to drop from the ends of segments A and B, with transformers' ``longest_first`` rule.

    The longer segment loses tokens until both are equal, then they lose alternately (B first on a
    tie). Works on Python ints / NumPy arrays (``xp=np``) and in graph (``xp=tf.experimental.numpy``).
    """
    excess = xp.maximum(length_a + length_b - budget, 0)
    first = xp.minimum(xp.abs(length_a - length_b), excess)
    second = excess - first
    a_longer = length_a > length_b
    remove_a = xp.where(a_longer, first + second // 2, second // 2)
    remove_b = xp.where(a_longer, second - second // 2, first + second - second // 2)
    return remove_a, remove_b


def pair_with_specials(ids_a, ids_b, max_length, cls_id, sep_id):
    """``[CLS] A [SEP] (B [SEP])`` of at most `max_length` ids, A and B (lists; `ids_b` may be None) cut at
    their ends with the ``longest_first`` rule. Returns ``(ids, token_type_ids, truncated)``."""
    if ids_b is None:
        keep_a = max(min(len(ids_a), max_length - 2), 0)
        ids = [cls_id] + ids_a[:keep_a] + [sep_id]
        return ids, [0] * len(ids), keep_a < len(ids_a)
    remove_a, remove_b = (int(value) for value in longest_first_removals(len(ids_a), len(ids_b), max_length - 3))
    first = [cls_id] + ids_a[:len(ids_a) - remove_a] + [sep_id]
    second = ids_b[:len(ids_b) - remove_b] + [sep_id]
    return first + second, [0] * len(first) + [1] * len(second), remove_a + remove_b > 0


# --- character classes of transformers' BasicTokenizer, from Python's unicodedata ------------------------

_KEPT_CONTROLS = (0x09, 0x0A, 0x0D)  # tab, newline, carriage return: whitespace, not removed
_ALWAYS_REMOVED = (0x00, 0xFFFD)
_ASCII_SYMBOLS = ((33, 47), (58, 64), (91, 96), (123, 126))  # BERT's punctuation beyond Unicode "P*"
_CJK_IDEOGRAPHS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                   (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_NUM_CODE_POINTS = 0x110000


@functools.lru_cache(maxsize=None)
def _character_tables():
    """Boolean tables over all code points: (removed, isolated, whitespace), computed with NumPy."""
    every_character = np.arange(_NUM_CODE_POINTS, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    categories = "".join(map(unicodedata.category, every_character))  # two letters each
    major = np.frombuffer(categories.encode("ascii"), np.uint8)[0::2]
    removed = major == ord("C")
    removed[list(_KEPT_CONTROLS)] = False
    removed[list(_ALWAYS_REMOVED)] = True
    isolated = major == ord("P")
    for low, high in _ASCII_SYMBOLS + _CJK_IDEOGRAPHS:
        isolated[low:high + 1] = True
    whitespace = np.zeros(_NUM_CODE_POINTS, bool)  # Python's `\s` is exactly `str.isspace`
    whitespace[[match.start() for match in re.finditer(r"\s", every_character)]] = True
    whitespace &= ~removed
    return removed, isolated, whitespace


def is_removed_char(char):
    """Characters transformers' BasicTokenizer deletes: NUL, U+FFFD and "C*" categories but tab/newline/CR."""
    return bool(_character_tables()[0][ord(char)])


def is_isolated_char(char):
    """Punctuation (BERT's definition) and CJK ideographs become one-character tokens."""
    return bool(_character_tables()[1][ord(char)])


def _ranges(table):
    """``(low, high)`` code point ranges where `table` is True, surrogates left out (not in valid UTF-8)."""
    table = table.copy()
    table[0xD800:0xE000] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], table.astype(np.int8), [0]])))
    return [(int(low), int(end) - 1) for low, end in zip(edges[0::2], edges[1::2])]


def _regex_class(ranges):
    parts = [f"\\x{{{low:X}}}" if low == high else f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in ranges]
    return "[" + "".join(parts) + "]"


@functools.lru_cache(maxsize=None)
def _character_class_patterns():
    """RE2 patterns: removed characters, whitespace (as Python's str.split sees it), isolated characters."""
    removed, isolated, whitespace = _character_tables()
    return _regex_class(_ranges(removed)), _regex_class(_ranges(whitespace)), _regex_class(_ranges(isolated))


_UNCOMMON_CHAR = re.compile(r"[^\t\n\r\x20-\x7e\uac00-\ud7a3\u3131-\u318e]")


@functools.lru_cache(maxsize=65536)
def _host_char(char):
    """What a character must become so that `tokenizers`' Rust tables agree with Python's: removed if
    transformers removes it (Rust keeps unassigned code points), padded with spaces if transformers
    isolates it (Rust's punctuation table misses ~100 recent ones, e.g. U+2E52)."""
    if is_removed_char(char):
        return ""
    if is_isolated_char(char):
        return f" {char} "
    return char


# --- host-side tokenizer ---------------------------------------------------------------------------------

class FastTokenizer:
    """Hugging Face `tokenizers` BertWordPiece (no lower-casing, no accent stripping, NFC) over a vocab."""

    def __init__(self, tokens, max_input_chars_per_word=100):
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

        self.tokens = check_vocab(list(tokens))
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
        self._tokenizer = tokenizer
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = special_token_ids(self.tokens).values()

    @classmethod
    def from_vocab_file(cls, path, max_input_chars_per_word=100):
        return cls(load_checked_vocab(path), max_input_chars_per_word)

    @property
    def vocab_size(self):
        return len(self.tokens)

    @staticmethod
    def _prepare(text):
        """Applies Python's character tables to the characters where Rust's may differ (see `_host_char`)."""
        return _UNCOMMON_CHAR.sub(lambda match: _host_char(match.group()), text)

    def tokenize(self, text):
        """WordPiece tokens of `text` (no special tokens added)."""
        return self._tokenizer.encode(self._prepare(text), add_special_tokens=False).tokens

    def encode(self, text):
        """Token ids of `text` (no special tokens added)."""
        return self._tokenizer.encode(self._prepare(text), add_special_tokens=False).ids

    def encode_batch(self, texts):
        """Token ids of each text, tokenized in parallel by the Rust batch path."""
        prepared = [self._prepare(text) for text in texts]
        return [encoding.ids for encoding in self._tokenizer.encode_batch(prepared, add_special_tokens=False)]

    def convert_ids_to_tokens(self, ids):
        return [self.tokens[index] for index in ids]

    def decode(self, ids, skip_special_tokens=True):
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def build_model_inputs(self, ids_a, ids_b=None, max_length=128):
        """``[CLS] A [SEP] (B [SEP])`` truncated ``longest_first`` and zero-padded to `max_length`."""
        ids, types, _ = pair_with_specials(ids_a, ids_b, max_length, self.cls_id, self.sep_id)
        padding = max_length - len(ids)
        return {"input_ids": ids + [self.pad_id] * padding,
                "attention_mask": [1] * len(ids) + [0] * padding,
                "token_type_ids": types + [0] * padding}

    def encode_for_model(self, text, text_pair=None, max_length=128):
        """Like ``ElectraTokenizer(text, text_pair, truncation=True, max_length=L, padding="max_length")``."""
        if max_length < (3 if text_pair is not None else 2):
            raise ValueError(f"max_length={max_length} leaves no room for [CLS]/[SEP]")
        ids_b = None if text_pair is None else self.encode(text_pair)
        return self.build_model_inputs(self.encode(text), ids_b, max_length)

    def encode_batch_for_model(self, texts, text_pairs=None, max_length=128):
        """`encode_for_model` over lists, returning a dict of int32 arrays ``[batch, max_length]``."""
        ids_a = self.encode_batch(texts)
        ids_b = self.encode_batch(text_pairs) if text_pairs is not None else [None] * len(ids_a)
        rows = [self.build_model_inputs(a, b, max_length) for a, b in zip(ids_a, ids_b)]
        return {name: np.asarray([row[name] for row in rows], dtype=np.int32).reshape(-1, max_length)
                for name in MODEL_INPUT_NAMES}


# --- in-graph tokenizer ----------------------------------------------------------------------------------

def _escape_literal(text):
    return "".join("\\" + char if not char.isalnum() else char for char in text)


class InGraphTokenizer(keras.layers.Layer):
    """Keras layer: strings ``[batch]`` (and optional second segment) → int32 ``input_ids``,
    ``attention_mask``, ``token_type_ids`` ``[batch, max_length]``, as `FastTokenizer.encode_for_model`.

    A scalar string gives ``[max_length]`` tensors. Works inside `tf.data.Dataset.map`, `tf.function`
    and a SavedModel (the vocabulary is a constant of the WordPiece op).
    """

    def __init__(self, vocab, max_length=128, max_input_chars_per_word=100, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        import tensorflow_text as tf_text

        self.tokens = load_checked_vocab(vocab)
        self.max_length = int(max_length)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = special_token_ids(self.tokens).values()
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.tokens, suffix_indicator="##", max_bytes_per_word=4 * self.max_input_chars_per_word,
            token_out_type=tf.int32, unknown_token=UNK_TOKEN, no_pretokenization=True)
        removed, whitespace, isolated = _character_class_patterns()
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


# --- corpus lines -----------------------------------------------------------------------------------------

class LineTokenizer:
    """WordPiece ids of many lines at once, as `FastTokenizer.encode_batch` gives them: the in-graph
    tokenizer's `distinct_chunk_token_ids` in a `tf.function` (its ops run without the GIL, so a block is
    tokenized while the previous one is packed).

    The vocabulary is read and checked at once; the layer is built and its graph traced and run once in a
    background thread, while the caller goes on reading the corpus.
    """

    def __init__(self, vocab_file):
        self.tokens = load_checked_vocab(vocab_file)
        background = ThreadPoolExecutor(1)
        self._encode = background.submit(self._build_encoder)
        background.shutdown(wait=False)  # the thread ends once the encoder is built

    def _build_encoder(self):
        layer = InGraphTokenizer(self.tokens)

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


# --- transformers tokenizer files ------------------------------------------------------------------------

TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")  # what save_tokenizer_files writes


def save_tokenizer_files(vocab, output_dir, max_length=512):
    """Writes ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json`` for
    `transformers.ElectraTokenizer` / `AutoTokenizer` (``do_lower_case: false``), each atomically.

    `vocab` is a vocab file path or a list of tokens. Returns the path of the written ``vocab.txt``.
    """
    tokens = load_checked_vocab(vocab)
    vocab_path = os.path.join(output_dir, "vocab.txt")
    with atomic_file(vocab_path, "wb") as handle:
        handle.write("".join(token + "\n" for token in tokens).encode("utf-8"))
    special_map = {"unk_token": UNK_TOKEN, "sep_token": SEP_TOKEN, "pad_token": PAD_TOKEN,
                   "cls_token": CLS_TOKEN, "mask_token": MASK_TOKEN}
    write_json(os.path.join(output_dir, "tokenizer_config.json"), {
        "tokenizer_class": "ElectraTokenizer",
        "do_lower_case": False,
        "strip_accents": False,
        "tokenize_chinese_chars": True,
        "do_basic_tokenize": True,
        "model_max_length": int(max_length),
        "clean_up_tokenization_spaces": False,
        **special_map,
    })
    write_json(os.path.join(output_dir, "special_tokens_map.json"), special_map)
    return vocab_path
