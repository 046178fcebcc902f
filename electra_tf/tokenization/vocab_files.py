"""Vocabulary files: reading and checking ``vocab.txt``, special-token ids, and the files transformers loads.

Special ids are always looked up in the vocabulary, never assumed (Korean vocabularies put them first or
last).
"""

import os

import tensorflow as tf

from electra_tf.io_utils import atomic_file, write_json

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = SPECIAL_TOKENS


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


# What `save_wordpiece_files` writes (`sp_files.SENTENCEPIECE_FILES` is what a SentencePiece vocabulary adds).
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def save_wordpiece_files(vocab, output_dir, max_length=512):
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
