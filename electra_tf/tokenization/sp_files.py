"""SentencePiece vocabulary files: the kind record, the model file, and the transformers `tokenizer.json`.

A SentencePiece vocabulary directory holds ``vocab.txt`` (the pieces in id order, so every stage that counts
tokens or looks up special ids reads it as for WordPiece), ``sentencepiece.model`` and ``vocabulary.json``
(``{"kind": ...}``); a directory without ``vocabulary.json`` is WordPiece.

Normalization lives in the model: a rule table (`normalization_rules_tsv`) composes characters as NFC does,
deletes the characters transformers' BERT clean-up deletes (assigned "Cc"/"Cf", NUL, U+FFFD) and turns
whitespace into spaces, without NFKC (which would turn compatibility jamo such as ``ㅋ`` into conjoining jamo).
The host tokenizer, the in-graph one and `tokenizer.json` all apply the same compiled table.
"""

import functools
import json
import os
import re
import unicodedata

import tensorflow as tf

from electra_tf.io_utils import atomic_file, write_json
from electra_tf.tokenization.characters import character_tables
from electra_tf.tokenization.vocab_files import (CLS_TOKEN, MASK_TOKEN, PAD_TOKEN, SEP_TOKEN, SPECIAL_TOKENS,
                                                 UNK_TOKEN, check_vocab)

WORDPIECE = "wordpiece"
SENTENCEPIECE_KINDS = ("sentencepiece-unigram", "sentencepiece-bpe")
VOCAB_KINDS = (WORDPIECE, *SENTENCEPIECE_KINDS)
KIND_FILE = "vocabulary.json"
MODEL_FILE = "sentencepiece.model"
SENTENCEPIECE_FILES = (MODEL_FILE, KIND_FILE, "tokenizer.json")  # written beside vocab.txt for SentencePiece
_HANGUL_FIRST, _HANGUL_LAST, _T_BASE = 0xAC00, 0xD7A3, 0x11A7


def vocab_directory(vocab):
    """The directory of a ``vocab.txt`` path (or the path itself when it is a directory)."""
    vocab = os.fspath(vocab)
    return vocab if tf.io.gfile.isdir(vocab) else os.path.dirname(vocab)


def vocab_kind(vocab):
    """The kind of a vocabulary (a path to ``vocab.txt`` or its directory; a list of tokens is WordPiece):
    ``vocabulary.json``'s ``kind`` beside it, else ``"wordpiece"``."""
    if not isinstance(vocab, (str, os.PathLike)):
        return WORDPIECE
    path = os.path.join(vocab_directory(vocab), KIND_FILE)
    if not tf.io.gfile.exists(path):
        return WORDPIECE
    with tf.io.gfile.GFile(path, "r") as handle:
        kind = json.load(handle).get("kind")
    if kind not in VOCAB_KINDS:
        raise ValueError(f"{path}: kind {kind!r} is not one of {', '.join(VOCAB_KINDS)}")
    return kind


def read_model(vocab):
    """The bytes of the ``sentencepiece.model`` beside `vocab` (a ``vocab.txt`` path or its directory)."""
    path = os.path.join(vocab_directory(vocab), MODEL_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{KIND_FILE} names a SentencePiece vocabulary but {path} is missing")
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def model_pieces(model):
    """``[(piece, score, type)]`` of a serialized SentencePiece model, in id order."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model)
    return proto, [(piece.piece, piece.score, piece.type) for piece in proto.pieces]


@functools.lru_cache(maxsize=None)
def normalization_rules_tsv():
    """SentencePiece normalization rules (``source<TAB>target`` in hex code points): NFC compositions (every
    decomposed or partly composed form of a precomposed character, Hangul included; singletons), the BERT
    clean-up's deletions, and whitespace → U+0020."""
    rules = {}
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        composed = unicodedata.normalize("NFC", char)
        if composed != char:
            rules[char] = composed
            continue
        decomposed = unicodedata.normalize("NFD", char)
        if len(decomposed) > 1:
            for cut in range(1, len(decomposed)):  # "e" + U+0301, and already partly composed forms
                rules.setdefault(unicodedata.normalize("NFC", decomposed[:cut]) + decomposed[cut:], char)
    for syllable in range(_HANGUL_FIRST, _HANGUL_LAST + 1, 28):  # LV + T (NFD never yields it)
        for trailing in range(1, 28):
            rules[chr(syllable) + chr(_T_BASE + trailing)] = chr(syllable + trailing)
    removed, _, whitespace = character_tables()
    for code in range(1, 0x110000):  # NUL cannot be a key of the compiled table
        if removed[code] and unicodedata.category(chr(code)) in ("Cc", "Cf") or code == 0xFFFD:
            rules[chr(code)] = ""
        elif whitespace[code] and code != 0x20:
            rules[chr(code)] = " "
    hexes = lambda text: " ".join(f"{ord(char):X}" for char in text)  # noqa: E731
    return "".join(f"{hexes(source)}\t{hexes(target)}\n" for source, target in sorted(rules.items()))


def tokenizer_json(model):
    """A Hugging Face `tokenizers` ``tokenizer.json`` (string) that gives the ids of the SentencePiece `model`
    (bytes): the same pieces and scores (unigram) or merges (BPE), NFC then the model's compiled rules, and
    ``[CLS] A [SEP] (B [SEP])`` around the ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    proto, pieces = model_pieces(model)
    user_defined = [piece for piece, _, kind in pieces if kind == 4]
    vocab = {piece: index for index, (piece, _, _) in enumerate(pieces)}
    unk_id = vocab[UNK_TOKEN]
    if proto.trainer_spec.model_type == 1:  # unigram
        tokenizer = Tokenizer(models.Unigram([(piece, score) for piece, score, _ in pieces], unk_id=unk_id,
                                             byte_fallback=False))
    else:
        tokenizer = Tokenizer(models.BPE(vocab, _bpe_merges(vocab, user_defined), unk_token=UNK_TOKEN,
                                         fuse_unk=True, byte_fallback=False, ignore_merges=True))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFC(),  # the Rust rule table works per grapheme and cannot compose long Hangul sequences
        normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
        normalizers.Strip(left=False, right=True),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    symbols = "|".join(re.escape(piece) for piece in sorted(user_defined, key=len, reverse=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([  # user-defined symbols are pieces wherever they stand
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(symbols), behavior="isolated")])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    tokenizer.encode_special_tokens = True  # "[CLS]" in a text goes through the model, as in SentencePiece
    cls_id, sep_id = vocab[CLS_TOKEN], vocab[SEP_TOKEN]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS_TOKEN} $A {SEP_TOKEN}", pair=f"{CLS_TOKEN} $A {SEP_TOKEN} $B:1 {SEP_TOKEN}:1",
        special_tokens=[(CLS_TOKEN, cls_id), (SEP_TOKEN, sep_id)])
    return tokenizer.to_str()


def _bpe_merges(vocab, skipped):
    """BPE merges of a SentencePiece BPE vocabulary: every split of a piece into two pieces, ranked by the
    merged piece's id (SentencePiece merges by score, which falls with the id), as transformers extracts them."""
    skipped = set(skipped)
    merges = []
    for merged, merged_id in vocab.items():
        if merged in skipped:
            continue
        splits = [(merged[:cut], merged[cut:]) for cut in range(1, len(merged))
                  if merged[:cut] in vocab and merged[cut:] in vocab]
        merges.extend((merged_id, vocab[left], vocab[right], left, right) for left, right in splits)
    return [(left, right) for _, _, _, left, right in sorted(merges)]


def save_sentencepiece_files(model, kind, output_dir, max_length=512):
    """Writes a SentencePiece vocabulary directory (see the module docstring) with the files transformers
    loads (``tokenizer.json``, ``tokenizer_config.json`` for ``PreTrainedTokenizerFast``,
    ``special_tokens_map.json``), each atomically. Returns the path of ``vocab.txt``.

    Args:
      model: the serialized SentencePiece model (bytes).
      kind: one of `SENTENCEPIECE_KINDS`.
      output_dir: the directory (created if needed).
      max_length: ``model_max_length`` for transformers.
    """
    if kind not in SENTENCEPIECE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(SENTENCEPIECE_KINDS)}")
    _, pieces = model_pieces(model)
    tokens = check_vocab([piece for piece, _, _ in pieces], source=MODEL_FILE)
    tf.io.gfile.makedirs(output_dir)
    with atomic_file(os.path.join(output_dir, MODEL_FILE), "wb") as handle:
        handle.write(model)
    vocab_path = os.path.join(output_dir, "vocab.txt")
    with atomic_file(vocab_path, "wb") as handle:
        handle.write("".join(token + "\n" for token in tokens).encode("utf-8"))
    with atomic_file(os.path.join(output_dir, "tokenizer.json"), "wb") as handle:
        handle.write(tokenizer_json(model).encode("utf-8"))
    special_map = {"unk_token": UNK_TOKEN, "sep_token": SEP_TOKEN, "pad_token": PAD_TOKEN,
                   "cls_token": CLS_TOKEN, "mask_token": MASK_TOKEN}
    write_json(os.path.join(output_dir, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": int(max_length),
        "clean_up_tokenization_spaces": False, "split_special_tokens": True, **special_map})
    write_json(os.path.join(output_dir, "special_tokens_map.json"), special_map)
    write_json(os.path.join(output_dir, KIND_FILE), {"kind": kind, "model": MODEL_FILE})
    return vocab_path
