"""The tokenizers and files of a vocabulary by its kind (WordPiece, or SentencePiece unigram/BPE; see
`sp_files.vocab_kind`): every stage builds its tokenizer here from the ``vocab.txt`` path it was given."""

from electra_tf.tokenization.host import FastTokenizer
from electra_tf.tokenization.in_graph import InGraphTokenizer
from electra_tf.tokenization.lite import LiteWordPiece
from electra_tf.tokenization.sp_files import WORDPIECE, read_model, save_sentencepiece_files, vocab_kind
from electra_tf.tokenization.sp_host import SentencePieceTokenizer
from electra_tf.tokenization.sp_in_graph import InGraphSentencePiece
from electra_tf.tokenization.vocab_files import load_checked_vocab, save_wordpiece_files


def host_tokenizer(vocab):
    """`FastTokenizer` or `SentencePieceTokenizer` of `vocab` (a ``vocab.txt`` path, or WordPiece tokens)."""
    if vocab_kind(vocab) == WORDPIECE:
        return FastTokenizer(load_checked_vocab(vocab))
    return SentencePieceTokenizer.from_vocab_file(vocab)


def in_graph_tokenizer(vocab, max_length=128):
    """`InGraphTokenizer` or `InGraphSentencePiece` of `vocab` (a ``vocab.txt`` path, or WordPiece tokens)."""
    if vocab_kind(vocab) == WORDPIECE:
        return InGraphTokenizer(vocab, max_length=max_length)
    return InGraphSentencePiece(vocab, max_length=max_length)


def lite_tokenizer(vocab, max_length=128):
    """The tokenizer of `vocab` built from ops LiteRT runs: `LiteWordPiece`, or for a SentencePiece unigram
    model `InGraphSentencePiece` (whose ids come from the fast op). Raises ValueError for BPE models, whose
    ids that op gets wrong."""
    kind = vocab_kind(vocab)
    if kind == WORDPIECE:
        return LiteWordPiece(vocab, max_length=max_length)
    if kind == "sentencepiece-unigram":
        return InGraphSentencePiece(vocab, max_length=max_length)
    raise ValueError(f"--vocab: a {kind} vocabulary cannot be tokenized with LiteRT's ops (tensorflow-text's "
                     "FastSentencepieceTokenizer gives other ids than sentencepiece for BPE models); use a "
                     "WordPiece or sentencepiece-unigram vocabulary")


def save_tokenizer_files(vocab, output_dir, max_length=512):
    """Writes the tokenizer files of `vocab` (a ``vocab.txt`` path, or WordPiece tokens) to `output_dir`, those
    transformers' ``AutoTokenizer`` loads included (see `save_wordpiece_files`, `save_sentencepiece_files`).
    Returns the path of the written ``vocab.txt``."""
    kind = vocab_kind(vocab)
    if kind == WORDPIECE:
        return save_wordpiece_files(vocab, output_dir, max_length)
    return save_sentencepiece_files(read_model(vocab), kind, output_dir, max_length)
