"""Builds a WordPiece ``vocab.txt`` (KoELECTRA layout) with Hugging Face `tokenizers`, or a SentencePiece
vocabulary (unigram or BPE) with the `sentencepiece` library.

    python -m electra_tf.vocab --input 'corpus/*.txt' --output_dir vocab/ --vocab_size 32000 \\
        [--model_type wordpiece|sentencepiece-unigram|sentencepiece-bpe] [--character_coverage 0.9995] \\
        [--min_frequency 2] [--limit_alphabet 6000] [--num_unused 0] \\
        [--pretokenizer none|mecab|kiwi] [--cleaning none|koelectra|kcelectra] [--merge_vocab OTHER/vocab.txt]

Ids: ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4``, then ``[unused0]..[unusedK-1]``, then the learned tokens.
Training text goes through the same normalization as the tokenizers (NFC, BERT clean-up, Hanja and
punctuation split, no lower-casing), so the vocabulary fits what `FastTokenizer` / `InGraphTokenizer` see.

Morpheme pre-tokenization (``--pretokenizer mecab|kiwi``, as KoELECTRA v3 and Dialog-KoELECTRA did):
at inference the tokenizer is plain WordPiece, without an analyzer, so ``아버지가`` must still tokenize as
``아버지 ##가``. Feeding morphemes to the trainer as separate words would learn ``가`` (word-initial) and
never ``##가``. Instead each whitespace/punctuation word is cut at the morpheme boundaries found by the
analyzer and every non-initial morpheme is given a marker character (U+E000) as its own first symbol;
the trainer then learns merges only inside morphemes, and a learned ``<marker>가`` becomes ``##가``
(duplicates of pieces learned inside morphemes are dropped; the vocabulary is trained slightly larger
and cut back to `vocab_size` in the trainer's order). Morpheme boundaries are character offsets, so
analyzers that rewrite forms (Kiwi: ``했`` → ``하 + 었``) still cut the original text.
The output is deterministic for the same input and options.

SentencePiece (``--model_type sentencepiece-unigram|sentencepiece-bpe``): the same ids for the special and
``[unused]`` tokens (user-defined symbols, matched whole in text), ``vocab.txt`` listing the pieces, and
``sentencepiece.model`` + ``vocabulary.json`` beside it (`tokenization.sp_files`); the model normalizes as NFC
plus the BERT clean-up. ``--character_coverage`` (0.9995 by default, SentencePiece's advice for Korean and
other large character sets) replaces ``--limit_alphabet``; with ``--pretokenizer`` the trainer sees morpheme
boundaries as cut points without spaces (SentencePiece's ``pretokenization_delimiter``), so pieces stay inside
morphemes while inference needs no analyzer. ``--merge_vocab`` and ``--min_frequency`` are WordPiece-only.

``--merge_vocab OTHER/vocab.txt`` (or the directory ``OTHER``; KcELECTRA: 30,000 trained + the rest of
KoELECTRA's = 50,135) appends, in OTHER's order, every token of OTHER that the trained vocabulary lacks
(OTHER's special and ``[unusedN]`` tokens skipped); every trained id stays unchanged and `vocab_size` counts
the trained part only. The overlap is printed and written to ``output_dir/merge_report.json``.
"""

import collections
import io
import os
import re
import sys
import tempfile

from absl import app, flags

from electra_tf import cli
from electra_tf.io_utils import check_directory_writable, existing_file, expand_globs, write_json
from electra_tf.text import CLEANING_PRESETS, LineReader
from electra_tf.tokenization import (SENTENCEPIECE_KINDS, SPECIAL_TOKENS, UNK_TOKEN, VOCAB_KINDS, WORDPIECE,
                                     is_isolated_char, is_removed_char, load_vocab, normalization_rules_tsv,
                                     save_sentencepiece_files, save_tokenizer_files)

PRETOKENIZERS = ("none", "mecab", "kiwi")
KOREAN_CHARACTER_COVERAGE = 0.9995
MERGE_REPORT_FILE = "merge_report.json"
_MARKER = "\ue000"
_UNUSED = re.compile(r"\[unused\d+\]")


def unused_tokens(count):
    return [f"[unused{index}]" for index in range(count)]


def _bert_normalizer():
    from tokenizers import normalizers

    return normalizers.Sequence([
        normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False),
        normalizers.NFC(),
    ])


def _mecab_boundaries():
    import mecab_ko

    tagger = mecab_ko.Tagger()

    def boundaries(text):
        starts, position = set(), 0
        for line in tagger.parse(text).splitlines():
            surface = line.split("\t", 1)[0]
            if line == "EOS" or not surface:
                continue
            found = text.find(surface, position)
            if found < 0:  # the analyzer changed the surface; keep the word unsplit from here
                break
            starts.add(found)
            position = found + len(surface)
        return starts

    return boundaries


def _kiwi_boundaries():
    from kiwipiepy import Kiwi

    kiwi = Kiwi()

    def boundaries(text):
        return {token.start for token in kiwi.tokenize(text)}

    return boundaries


def morpheme_words(text, boundaries, pre_tokenizer):
    """Pre-tokenized `text` with words cut at morpheme starts; non-initial morphemes start with U+E000."""
    starts = boundaries(text)
    output = []
    for word, (begin, end) in pre_tokenizer.pre_tokenize_str(text):
        cuts = [begin] + sorted(position for position in starts if begin < position < end) + [end]
        output.append(word[: cuts[1] - begin])
        output.extend(_MARKER + word[low - begin: high - begin] for low, high in zip(cuts[1:-1], cuts[2:]))
    return " ".join(output)


def _training_texts(reader, pretokenizer, sentencepiece=False):
    """Yields the non-empty lines to train on, morpheme-split when an analyzer is chosen: for WordPiece by
    `morpheme_words`, for SentencePiece by `marked_morphemes`."""
    if pretokenizer == "none":
        for _, _, text in reader:
            if text:
                yield text
        return
    from tokenizers import pre_tokenizers

    boundaries = {"mecab": _mecab_boundaries, "kiwi": _kiwi_boundaries}[pretokenizer]()
    if sentencepiece:
        def split(text):
            return marked_morphemes(text, boundaries(text))
    else:
        normalizer, splitter = _bert_normalizer(), pre_tokenizers.BertPreTokenizer()

        def split(text):
            return morpheme_words(normalizer.normalize_str(text), boundaries, splitter)
    for path, line_number, text in reader:
        if text:
            try:
                yield split(text)
            except Exception as error:
                raise RuntimeError(f"{path}:{line_number}: {pretokenizer} analysis failed: {error}") from error


def marked_morphemes(text, starts):
    """`text` with U+E000 before each morpheme start (`starts`, character offsets) inside a word."""
    return "".join(_MARKER + char if index in starts and index and not text[index - 1].isspace()
                   and not char.isspace() else char for index, char in enumerate(text))


def plan_alphabet(texts, limit_alphabet):
    """Returns ``(alphabet, continuations)``: the `limit_alphabet` most frequent characters (ties by code
    point) and ``##c`` for those of them that occur inside a word (after a non-punctuation character).

    Registering the continuations up front fixes their ids; `tokenizers` otherwise numbers them in
    hash-map order, which reorders equal-count merges and makes training non-deterministic
    (huggingface/tokenizers#1794).
    """
    word_counts = collections.Counter()
    for text in texts:
        word_counts.update(text.split())
    char_counts, internal = collections.Counter(), set()
    for word, count in word_counts.items():
        previous_joins = False
        for char in word:
            if char != _MARKER and is_removed_char(char):
                continue
            char_counts[char] += count
            isolated = is_isolated_char(char)
            if previous_joins and not isolated:
                internal.add(char)
            previous_joins = not isolated
    ranked = sorted(char_counts, key=lambda char: (-char_counts[char], char))[:limit_alphabet]
    return sorted(ranked), ["##" + char for char in sorted(internal.intersection(ranked))]


def _train(texts, vocab_size, min_frequency, limit_alphabet, reserved, morphemes, show_progress, continuations):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS[1]))
    if morphemes:  # already normalized and split; the marker must survive (BertNormalizer would drop it)
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    else:
        tokenizer.normalizer = _bert_normalizer()
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, limit_alphabet=limit_alphabet + int(morphemes),
        special_tokens=reserved + continuations, continuing_subword_prefix="##", show_progress=show_progress)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    vocab = tokenizer.get_vocab()
    return sorted(vocab, key=vocab.get)


def _unmark(tokens):
    """Marker-initial tokens become ``##`` continuations; the bare marker and duplicates are dropped."""
    seen, output = set(), []
    for token in tokens:
        if token.startswith(_MARKER):
            token = "##" + token[1:]
        elif token.startswith("##" + _MARKER):
            token = "##" + token[3:]
        if token in ("", "##") or _MARKER in token or token in seen:
            continue
        seen.add(token)
        output.append(token)
    return output


def build_vocab(inputs, output_dir, vocab_size, min_frequency=2, limit_alphabet=6000, num_unused=0,
                pretokenizer="none", cleaning="none", show_progress=True, merge_vocab=None):
    """Trains a WordPiece vocabulary on the lines of `inputs` and writes ``output_dir/vocab.txt`` and
    ``tokenizer_config.json`` (atomically). Returns the list of tokens.

    `merge_vocab`: a ``vocab.txt`` (or a directory holding one) whose missing tokens are appended
    (`merge_vocabularies`); `vocab_size` is then the size of the trained part, and ``merge_report.json``
    records the overlap."""
    merge_vocab, other = _merge_tokens(merge_vocab) if merge_vocab else (None, None)  # fails before training
    reserved = SPECIAL_TOKENS + unused_tokens(num_unused)
    if vocab_size <= len(reserved):
        raise ValueError(f"vocab_size={vocab_size} leaves no room for learned tokens after the "
                         f"{len(SPECIAL_TOKENS)} special and {num_unused} unused tokens")
    if pretokenizer not in PRETOKENIZERS:
        raise ValueError(f"pretokenizer={pretokenizer!r} is not one of {', '.join(PRETOKENIZERS)}")
    files = expand_globs(inputs)
    check_directory_writable(output_dir)  # before the training, not after it
    morphemes = pretokenizer != "none"
    reader = LineReader(files, cleaning, progress=show_progress)
    texts = _training_texts(reader, pretokenizer)
    if morphemes:  # analyzed once: the marker trick may need a second, larger training run
        texts = list(texts)
    alphabet, continuations = plan_alphabet(_checked_nonempty(texts, files), limit_alphabet + int(morphemes))
    needed = len(reserved) + len(alphabet) + len(continuations) - int(morphemes)
    if needed >= vocab_size:
        raise ValueError(f"vocab_size={vocab_size} is too small for this corpus: the {len(reserved)} reserved tokens, "
                         f"{len(alphabet)} characters and {len(continuations)} '##' character forms need {needed}; "
                         f"raise --vocab_size or lower --limit_alphabet")
    if not morphemes:  # second pass over the files for training
        texts = _training_texts(LineReader(files, cleaning, progress=show_progress), pretokenizer)
    tokens = _train(texts, vocab_size, min_frequency, limit_alphabet, reserved, morphemes, show_progress,
                    continuations)
    if morphemes:
        target, extra = vocab_size, max(vocab_size // 10, 10)
        tokens = _unmark(tokens)
        while len(tokens) < target and extra <= 4 * vocab_size:
            larger = _unmark(_train(texts, target + extra, min_frequency, limit_alphabet, reserved, True,
                                    show_progress, continuations))
            if len(larger) <= len(tokens):
                break  # the corpus supports no more tokens
            tokens, extra = larger, extra * 2
        tokens = tokens[:target]
    if tokens[: len(reserved)] != reserved:
        raise RuntimeError(f"trainer did not put the reserved tokens first: {tokens[: len(reserved) + 1]}")
    if reader.report():
        print(f"warning: {reader.report()}", file=sys.stderr)
    report = None
    if other is not None:
        tokens, report = merge_vocabularies(tokens, other)
        report["merged_from"] = merge_vocab
    save_tokenizer_files(tokens, output_dir)
    if report is not None:
        write_json(os.path.join(output_dir, MERGE_REPORT_FILE), report)
        print(f"merged {merge_vocab}: {report['overlap']} of its {report['other_tokens']} tokens were already "
              f"trained, {report['added']} added → {report['total']} tokens", file=sys.stderr)
    return tokens


def build_sentencepiece_vocab(inputs, output_dir, vocab_size, model_type="sentencepiece-unigram",
                              character_coverage=KOREAN_CHARACTER_COVERAGE, num_unused=0, pretokenizer="none",
                              cleaning="none", show_progress=True):
    """Trains a SentencePiece vocabulary on the lines of `inputs` and writes its directory (see the module
    docstring; atomically per file). Returns the list of pieces (ids = positions).

    Args:
      inputs: a file, glob or list of them (local or ``gs://``).
      output_dir: the vocabulary directory.
      vocab_size: all pieces, special and ``[unused]`` tokens included.
      model_type: ``sentencepiece-unigram`` or ``sentencepiece-bpe``.
      character_coverage: the share of characters (by count) the model covers; the rest become ``[UNK]``.
      num_unused: ``[unusedN]`` tokens after the special ones.
      pretokenizer: ``none``, ``mecab`` or ``kiwi`` (morpheme boundaries as training cut points).
      cleaning: a cleaning preset of `electra_tf.text`.
      show_progress: show the reader's progress bar.
    """
    if model_type not in SENTENCEPIECE_KINDS:
        raise ValueError(f"model_type={model_type!r} is not one of {', '.join(SENTENCEPIECE_KINDS)}")
    if not 0.5 <= character_coverage <= 1:
        raise ValueError(f"character_coverage={character_coverage} must be in [0.5, 1]")
    if pretokenizer not in PRETOKENIZERS:
        raise ValueError(f"pretokenizer={pretokenizer!r} is not one of {', '.join(PRETOKENIZERS)}")
    reserved = SPECIAL_TOKENS + unused_tokens(num_unused)
    if vocab_size <= len(reserved):
        raise ValueError(f"vocab_size={vocab_size} leaves no room for learned pieces after the "
                         f"{len(SPECIAL_TOKENS)} special and {num_unused} unused tokens")
    files = expand_globs(inputs)
    check_directory_writable(output_dir)
    reader = LineReader(files, cleaning, progress=show_progress)
    texts = _checked_nonempty(_training_texts(reader, pretokenizer, sentencepiece=True), files)
    options = {}
    if pretokenizer != "none":
        options["pretokenization_delimiter"] = _MARKER
    model = io.BytesIO()
    with tempfile.TemporaryDirectory() as scratch:
        rules = os.path.join(scratch, "normalization_rules.tsv")
        with open(rules, "w", encoding="utf-8") as handle:
            handle.write(normalization_rules_tsv())
        _train_sentencepiece(
            sentence_iterator=texts, model_writer=model, model_type=model_type.split("-")[1],
            vocab_size=vocab_size, character_coverage=character_coverage, normalization_rule_tsv=rules,
            unk_id=SPECIAL_TOKENS.index(UNK_TOKEN), unk_piece=UNK_TOKEN, bos_id=-1, eos_id=-1, pad_id=-1,
            user_defined_symbols=[token for token in reserved if token != UNK_TOKEN],
            max_sentence_length=1 << 16, minloglevel=0 if show_progress else 2, **options)
    if reader.report():
        print(f"warning: {reader.report()}", file=sys.stderr)
    save_sentencepiece_files(model.getvalue(), model_type, output_dir)
    tokens = load_vocab(os.path.join(output_dir, "vocab.txt"))
    if tokens[: len(reserved)] != reserved:
        raise RuntimeError(f"trainer did not put the reserved tokens first: {tokens[: len(reserved) + 1]}")
    return tokens


def _train_sentencepiece(**options):
    """`SentencePieceTrainer.train`; a vocabulary too large for the corpus is a `--vocab_size` error."""
    import sentencepiece

    try:
        sentencepiece.SentencePieceTrainer.train(**options)
    except RuntimeError as error:
        if "Vocabulary size" in str(error) or "vocab_size" in str(error):
            raise ValueError(f"--vocab_size: {error}") from error
        raise


def _merge_tokens(merge_vocab):
    """``(path, tokens)`` of `--merge_vocab` (a ``vocab.txt`` or a directory holding one); errors name the flag."""
    path = existing_file(merge_vocab, inside="vocab.txt")
    try:
        return path, load_vocab(path)
    except ValueError as error:
        raise ValueError(f"--merge_vocab: {error}") from error


def merge_vocabularies(trained, other):
    """`trained` followed by the tokens of `other` it lacks, in `other`'s order (special and ``[unusedN]``
    tokens of `other` skipped). Returns ``(tokens, report)``; `report` counts the overlap."""
    known = set(trained)
    candidates = [token for token in dict.fromkeys(other)
                  if token not in SPECIAL_TOKENS and not _UNUSED.fullmatch(token)]
    added = [token for token in candidates if token not in known]
    report = {"trained_tokens": len(trained), "other_tokens": len(candidates),
              "overlap": len(candidates) - len(added), "added": len(added), "total": len(trained) + len(added)}
    return list(trained) + added, report


def _checked_nonempty(texts, files):
    """Passes `texts` through, raising a clear error if there is none."""
    count = 0
    for text in texts:
        count += 1
        yield text
    if count == 0:
        raise ValueError(f"--input: No non-empty line to build a vocabulary from in {', '.join(files)}")


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command-line flags (only when run as a script, so importing defines nothing)."""
    flags.DEFINE_multi_string("input", None, "Input text file or glob (local or gs://); repeatable.")
    flags.DEFINE_string("output_dir", None, "Directory for vocab.txt and tokenizer_config.json.")
    flags.DEFINE_integer("vocab_size", None, "Total vocabulary size, special and unused tokens included (with "
                         "--merge_vocab: the size of the trained part).")
    flags.DEFINE_enum("model_type", WORDPIECE, VOCAB_KINDS, "Vocabulary kind: WordPiece (tokenizers) or "
                      "SentencePiece unigram / BPE (sentencepiece).")
    flags.DEFINE_float("character_coverage", KOREAN_CHARACTER_COVERAGE, "SentencePiece: share of the corpus's "
                       "characters the vocabulary covers (the rest become [UNK]).")
    flags.DEFINE_integer("min_frequency", 2, "WordPiece: minimum count of a merged piece.")
    flags.DEFINE_integer("limit_alphabet", 6000, "WordPiece: maximum number of distinct characters kept.")
    flags.DEFINE_integer("num_unused", 0, "Number of [unusedN] tokens after the special tokens.")
    flags.DEFINE_enum("pretokenizer", "none", PRETOKENIZERS, "Morpheme analyzer applied before training.")
    flags.DEFINE_enum("cleaning", "none", CLEANING_PRESETS, "Cleaning preset (NFC is always applied).")
    flags.DEFINE_string("merge_vocab", None, "A vocab.txt (or a model directory holding one) whose tokens missing "
                        "from the trained vocabulary are appended (its special and [unusedN] tokens skipped).")


def main(argv):
    del argv
    for name in ("input", "output_dir", "vocab_size"):
        if not FLAGS[name].value:
            raise app.UsageError(f"--{name} is required")
    if FLAGS.model_type == WORDPIECE:
        tokens = build_vocab(FLAGS.input, FLAGS.output_dir, FLAGS.vocab_size, FLAGS.min_frequency,
                             FLAGS.limit_alphabet, FLAGS.num_unused, FLAGS.pretokenizer, FLAGS.cleaning,
                             merge_vocab=FLAGS.merge_vocab)
    elif FLAGS.merge_vocab:
        raise ValueError("--merge_vocab: only a WordPiece vocabulary (--model_type wordpiece) can be merged")
    else:
        tokens = build_sentencepiece_vocab(FLAGS.input, FLAGS.output_dir, FLAGS.vocab_size, FLAGS.model_type,
                                           FLAGS.character_coverage, FLAGS.num_unused, FLAGS.pretokenizer,
                                           FLAGS.cleaning)
    print(f"wrote {os.path.join(FLAGS.output_dir, 'vocab.txt')} ({len(tokens)} tokens)")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
