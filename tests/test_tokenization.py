"""FastTokenizer and InGraphTokenizer give exactly the ids of transformers.ElectraTokenizer(do_lower_case=False)."""

import os
import random
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.text import normalize_text
from electra_tf.tokenization import (SPECIAL_TOKENS, FastTokenizer, InGraphTokenizer, load_vocab,
                                     longest_first_removals, pair_with_specials, prepare_text,
                                     save_tokenizer_files, special_token_ids)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
SAMPLE_CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")

_HANGUL_WORDS = ["서울", "날씨", "오늘", "회의", "친구", "맛있다", "학교에서", "했습니다", "좋아요", "그래서",
                 "먹으러", "갔는데", "아버지가방에들어가신다", "대한민국", "한국어", "배터리", "선생님께서"]
_ENGLISH = ["ELECTRA", "KoELECTRA", "TensorFlow", "ok", "Thanks", "iPhone15", "Zoom", "PDF", "café", "naïve"]
_NUMBERS = ["2024년", "3.14", "1,352.0원", "010-1234-5678", "50%", "24℃", "5kg", "12:30", "1~3", "½", "²"]
_PUNCT = list(".,?!/@$%~％·∼()[]{}<>=+^`|\\\"'*&#;:-_") + ["…", "「", "」", "《", "》", "“", "”", "‘", "’", "※", "→"]
_EMOJI = ["😂", "❤️", "👍🏻", "🐶", "☕", "🫠", "👨‍👩‍👧", "🇰🇷", "✨", "💪"]
_HANJA = ["大韓民國", "漢字", "學而時習之", "韓·美", "豈", "更", "讀書", "𠀀", "㐀"]
_JAMO = ["ㅋㅋㅋ", "ㅎㅇ", "ㄱㄱ", "ㅠㅠ", "ㅡㅡ", "ᄒᆞᆫ", "ᄀ", "ᅡ", "ᆨ"]
_ODD_SPACES = ["\t", "\n", "\u00a0", "\u3000", "\u2028", "\u200b", "\u00ad", "\ufeff", "\u2060", "\r", "  "]
_ODD_CHARS = ["\x00", "\x07", "\x7f", "\ufffd", "\ue000", "\U000f0001", "\u0301", "\u180e", "\x85", "\u1fef",
              "\u0378", "\u2e52", "\u061d", "\U0001fae8"]  # unassigned / recent: Rust tables differ
_SPECIAL_LITERALS = SPECIAL_TOKENS + ["[unused0]", "[cls]", "[MASK"]


def _nfd(text):
    return unicodedata.normalize("NFD", text)


def _generated_lines(count=1400, seed=7):
    """Deterministic varied lines built from the pieces above and random words of the sample corpus."""
    rng = random.Random(seed)
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        corpus_words = handle.read().split()
    families = [_HANGUL_WORDS * 3 + corpus_words, _ENGLISH, _NUMBERS, _PUNCT, _EMOJI, _HANJA, _JAMO,
                _SPECIAL_LITERALS, _ODD_CHARS]
    weights = [12, 2, 2, 3, 1, 1, 1, 0.3, 0.5]
    lines = []
    for index in range(count):
        pieces = []
        for _ in range(rng.randint(1, 25)):
            family = rng.choices(families, weights)[0]
            pieces.append(rng.choice(family))
            pieces.append(rng.choice(_ODD_SPACES) if rng.random() < 0.08 else (" " if rng.random() < 0.75 else ""))
        line = "".join(pieces)
        if index % 50 == 0:  # very long words: beyond max_input_chars_per_word (100)
            line += " " + "".join(rng.choice(_HANGUL_WORDS) for _ in range(rng.randint(20, 40)))
        if index % 70 == 0:
            line = "가" * rng.choice([99, 100, 101]) + " " + "a" * rng.choice([100, 101]) + line
        lines.append(line)
    return lines


@pytest.fixture(scope="module")
def parity_lines():
    """2,000+ lines: the sample corpus, generated lines and their NFD forms, all NFC-normalized."""
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        corpus = [line.rstrip("\n") for line in handle if line.strip()]
    generated = _generated_lines()
    lines = corpus + generated + [_nfd(line) for line in generated[:300]] + ["", " ", "\u200b"]
    return [normalize_text(line) for line in lines]


@pytest.fixture(scope="module")
def tokenizers():
    from transformers import ElectraTokenizer

    slow = ElectraTokenizer(SAMPLE_VOCAB, do_lower_case=False)
    return slow, FastTokenizer.from_vocab_file(SAMPLE_VOCAB), InGraphTokenizer(SAMPLE_VOCAB, max_length=40)


def _assert_same(line, expected, actual, what):
    assert expected == actual, (f"{what} differs from transformers on line {line!r}:\n"
                                f"  transformers: {expected}\n  {what}: {actual}")


def test_parity_lines_are_varied(parity_lines):
    assert len(parity_lines) >= 2000
    joined = "".join(parity_lines)
    for needle in ["漢", "😂", "ㅋ", "[CLS]", "\u3000", "\u2e52", "%"]:
        assert needle in joined
    assert any(len(word) > 100 for line in parity_lines for word in line.split())


def test_token_ids_match_transformers(tokenizers, parity_lines):
    slow, fast, in_graph = tokenizers
    fast_ids = fast.encode_batch(parity_lines)
    graph_ids = in_graph.token_ids(tf.constant(parity_lines)).to_list()
    unknown = 0
    for line, fast_row, graph_row in zip(parity_lines, fast_ids, graph_ids):
        expected = slow.encode(line, add_special_tokens=False)
        _assert_same(line, expected, fast_row, "FastTokenizer.encode_batch")
        _assert_same(line, expected, graph_row, "InGraphTokenizer")
        unknown += expected.count(1)
    total = sum(len(row) for row in fast_ids)
    assert 0 < unknown < 0.5 * total  # the vocab covers most of the text, but UNK paths are exercised too
    sample = parity_lines[:40]
    assert [fast.encode(line) for line in sample] == fast_ids[:40]
    assert [fast.tokenize(line) for line in sample] == [slow.tokenize(line) for line in sample]


@pytest.mark.parametrize("max_length", [40])
def test_model_inputs_match_transformers_single_and_pair(tokenizers, parity_lines, max_length):
    slow, fast, in_graph = tokenizers
    firsts, seconds = parity_lines[::2][:600], parity_lines[1::2][:600]
    graph_single = {k: v.numpy().tolist() for k, v in in_graph(tf.constant(firsts)).items()}
    graph_pair = {k: v.numpy().tolist() for k, v in in_graph(tf.constant(firsts), tf.constant(seconds)).items()}
    fast_pair = fast.encode_batch_for_model(firsts, seconds, max_length=max_length)
    for row, (first, second) in enumerate(zip(firsts, seconds)):
        for pair in (None, second):
            expected = slow(first, pair, truncation=True, max_length=max_length, padding="max_length")
            fast_out = fast.encode_for_model(first, pair, max_length=max_length)
            graph_out = graph_single if pair is None else graph_pair
            for name in ("input_ids", "attention_mask", "token_type_ids"):
                line = first if pair is None else (first, second)
                _assert_same(line, expected[name], fast_out[name], f"FastTokenizer {name}")
                _assert_same(line, expected[name], graph_out[name][row], f"InGraphTokenizer {name}")
                if pair is not None:
                    _assert_same(line, expected[name], fast_pair[name][row].tolist(), f"encode_batch_for_model {name}")


def test_nfd_input_gives_nfc_ids(tokenizers):
    slow, fast, in_graph = tokenizers
    lines = ["서울시는 다음 달부터 시내버스 심야 노선을 늘린다고 밝혔다.", "아버지가 방에 들어가신다 ㅋㅋ", "서울 날씨는 맑음 漢字"]
    nfd = [_nfd(line) for line in lines]
    assert all(any(0x1100 <= ord(c) <= 0x11FF for c in line) for line in nfd)
    expected = [slow.encode(line, add_special_tokens=False) for line in lines]
    assert fast.encode_batch(nfd) == expected
    assert in_graph.token_ids(tf.constant(nfd)).to_list() == expected
    assert 1 not in expected[0]


def test_longest_first_rule_matches_examples():
    # (len_a, len_b, budget) -> removals, worked out from transformers' one-token-at-a-time description.
    assert tuple(map(int, longest_first_removals(10, 3, 9))) == (4, 0)
    assert tuple(map(int, longest_first_removals(6, 6, 9))) == (1, 2)
    assert tuple(map(int, longest_first_removals(3, 10, 9))) == (0, 4)
    assert tuple(map(int, longest_first_removals(4, 4, 9))) == (0, 0)
    assert tuple(map(int, longest_first_removals(7, 6, 9))) == (2, 2)


def test_special_token_ids_are_looked_up():
    tokens = ["가", "[MASK]", "나", "[SEP]", "[CLS]", "[UNK]", "[PAD]", "[CLS]"]
    assert special_token_ids(tokens) == {"pad": 6, "unk": 5, "cls": 4, "sep": 3, "mask": 1}
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[UNK\]', '\[MASK\]'\]"):
        special_token_ids(["[PAD]", "[CLS]", "[SEP]"])


def test_pair_with_specials_examples():
    assert pair_with_specials([5, 6, 7], [8, 9], 7, 2, 3) == ([2, 5, 6, 3, 8, 9, 3], [0, 0, 0, 0, 1, 1, 1], True)
    assert pair_with_specials([5], None, 4, 2, 3) == ([2, 5, 3], [0, 0, 0], False)


def test_host_pair_assembler_matches_transformers(tokenizers):
    """`build_batch`, the one host assembler (behind `encode_batch_for_model`, the tasks and KorQuAD windows),
    against ElectraTokenizer and ElectraTokenizerFast: singles and pairs, truncation, padding, truncation count.

    The two transformers tokenizers disagree on one case: when both segments are cut and the kept budget is
    odd, the slow one keeps the extra token in A, the Rust one in B. We follow the slow one (the reference of
    every other parity test); the rows where the Rust one differs must be exactly that case."""
    import transformers

    slow, fast, _ = tokenizers
    rust = transformers.ElectraTokenizerFast(SAMPLE_VOCAB, do_lower_case=False)
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        corpus = [line.strip() for line in handle if line.strip()][:240]
    firsts, seconds = corpus[0::2], corpus[1::2]
    ids_a, ids_b = fast.encode_batch(firsts), fast.encode_batch(seconds)
    assert [rust.encode(text, add_special_tokens=False) for text in firsts] == ids_a  # plain text: same ids
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "overflowing tokens are not returned" for every pair
    odd_splits, partly_cut = 0, False
    try:
        for max_length in (3, 9, 24, 64):
            for texts_b, second in ((None, None), (seconds, ids_b)):
                ids, types, mask, truncated = fast.build_batch(ids_a, second, max_length)
                expected = slow(firsts, texts_b, truncation=True, max_length=max_length, padding="max_length")
                assert ids.dtype == np.int32 and ids.shape == (len(firsts), max_length)
                assert ids.tolist() == expected["input_ids"]
                assert types.tolist() == expected["token_type_ids"]
                assert mask.tolist() == expected["attention_mask"]
                specials = 2 if second is None else 3
                lengths = [len(a) + specials + (0 if second is None else len(second[row]))
                           for row, a in enumerate(ids_a)]
                assert truncated == sum(length > max_length for length in lengths)
                partly_cut |= 0 < truncated < len(firsts)
                rust_ids = rust(firsts, texts_b, truncation=True, max_length=max_length,
                                padding="max_length")["input_ids"]
                for row, (ours, theirs) in enumerate(zip(ids.tolist(), rust_ids)):
                    if ours == theirs:
                        continue
                    assert second is not None, (max_length, row)
                    keep_a = ours.index(fast.sep_id) - 1
                    keep_b = int(mask[row].sum()) - keep_a - 3
                    assert keep_a == keep_b + 1 and keep_b < len(second[row]), (max_length, row)
                    rust_row = ([fast.cls_id] + ids_a[row][:keep_a - 1] + [fast.sep_id] + second[row][:keep_b + 1]
                                + [fast.sep_id])
                    assert theirs[:int(mask[row].sum())] == rust_row
                    odd_splits += 1
    finally:
        transformers.logging.set_verbosity(verbosity)
    assert partly_cut and odd_splits > 0  # truncation and the case where the two disagree were reached


def test_offsets_point_into_the_original_text(tokenizers):
    """`encode_with_offsets` on raw varied lines (odd characters, NFD): the ids of `encode_batch`, and each
    known token's span (no surrounding space), prepared and NFC-normalized, is exactly the token; spans do not
    overlap."""
    _, fast, _ = tokenizers
    generated = _generated_lines(count=400, seed=11)
    lines = generated + [_nfd(line) for line in generated[:150]]
    encoded = fast.encode_with_offsets(lines)
    assert [ids for ids, _ in encoded] == fast.encode_batch(lines)
    checked = 0
    for line, (ids, offsets) in zip(lines, encoded):
        assert all(end0 <= start1 for (_, end0), (start1, _) in zip(offsets, offsets[1:])), line
        for token, (start, end) in zip(fast.convert_ids_to_tokens(ids), offsets):
            if token != "[UNK]":
                span = line[start:end]
                assert span == span.strip() and unicodedata.normalize("NFC", prepare_text(span).strip()) == \
                    token.removeprefix("##"), (line, token, span)
                checked += 1
    assert checked > 5000


def test_korquad_contexts_prepared_like_questions(tokenizers):
    """A context holding characters the preparation changes (a recent punctuation mark Rust does not isolate,
    an unassigned code point Rust keeps, a zero-width space, NFD Hangul) gets transformers' ids, and its
    offsets point into the original context: the gold answer is recovered exactly."""
    from electra_tf.finetuning import squad

    slow, _, _ = tokenizers
    adapter = FastTokenizer.from_vocab_file(SAMPLE_VOCAB)
    answer = _nfd("훈민정음")
    context = (f"조선의 {_nfd('세종대왕')}이 1443년에 만든 글자는\u2e52{answer}\u2e52이다. "
               "세종\u0378대왕은 \u200b백성을 사랑했다.")
    (ids, offsets), = adapter.encode_with_offsets([context])
    assert ids == slow.encode(context, add_special_tokens=False)
    tokens = slow.convert_ids_to_tokens(ids)
    for token, (start, end) in zip(tokens, offsets):
        if token != "[UNK]":  # a known token's span is its characters (NFC, removed characters dropped)
            assert unicodedata.normalize("NFC", context[start:end]) == token.removeprefix("##")
    assert [context[start:end] for token, (start, end) in zip(tokens, offsets) if token == "[UNK]"] == [
        _nfd("세종대왕") + "이", "\u2e52", answer, "\u2e52", "세종\u0378대왕은"]
    example = squad.SquadExample("q1", "세종대왕이 만든 글자는?", context, [(answer, context.index(answer))])
    features = squad.featurize([example], adapter, max_seq_length=24, doc_stride=6, max_query_length=12,
                               training=True)
    assert len(features.example_index) > 1  # several windows
    start_logits = np.zeros(features.inputs["input_ids"].shape, np.float32)
    end_logits = np.zeros_like(start_logits)
    labelled = 0
    for feature, (s, e) in enumerate(zip(features.labels["start_positions"], features.labels["end_positions"])):
        if s:
            labelled += 1
            start_logits[feature, s] = end_logits[feature, e] = 10.0
    assert labelled
    assert squad.decode_answers([example], features, start_logits, end_logits) == {"q1": answer}


def test_in_graph_tokenizer_in_tf_data_and_scalar(tokenizers):
    slow, _, in_graph = tokenizers
    texts = ["오늘 날씨가 좋네요", "회의는 3시에 시작합니다.", "ㅋㅋ 진짜?"]
    pairs = ["내일은 비가 온대요", "7층 대회의실", "응"]
    dataset = tf.data.Dataset.from_tensor_slices((texts, pairs)).map(lambda a, b: in_graph(a, b)).batch(3)
    batch = next(iter(dataset))
    assert batch["input_ids"].dtype == tf.int32 and batch["input_ids"].shape == (3, 40)
    for row, (text, pair) in enumerate(zip(texts, pairs)):
        expected = slow(text, pair, truncation=True, max_length=40, padding="max_length")
        assert batch["input_ids"][row].numpy().tolist() == expected["input_ids"]
        assert batch["token_type_ids"][row].numpy().tolist() == expected["token_type_ids"]


def test_in_graph_tokenizer_saved_model_is_self_contained(tmp_path, tokenizers):
    slow, _, _ = tokenizers
    vocab_copy = tmp_path / "vocab.txt"
    vocab_copy.write_text("\n".join(load_vocab(SAMPLE_VOCAB)) + "\n", encoding="utf-8")
    module = tf.Module()
    module.tokenizer = InGraphTokenizer(str(vocab_copy), max_length=16)
    module.serve = tf.function(lambda text: module.tokenizer(text),
                               input_signature=[tf.TensorSpec([None], tf.string)])
    export_dir = str(tmp_path / "saved")
    tf.saved_model.save(module, export_dir)
    vocab_copy.unlink()  # the SavedModel must not need the vocab file any more
    loaded = tf.saved_model.load(export_dir)
    texts = ["주말에 가족들이랑 강릉 다녀왔는데 바다가 정말 예쁘더라 정말 정말 예뻤어요", "ok"]
    outputs = loaded.serve(tf.constant(texts))
    for row, text in enumerate(texts):
        expected = slow(text, truncation=True, max_length=16, padding="max_length")
        assert outputs["input_ids"][row].numpy().tolist() == expected["input_ids"]
        assert outputs["attention_mask"][row].numpy().tolist() == expected["attention_mask"]


def test_in_graph_tokenizer_config_round_trip(tokenizers):
    _, _, in_graph = tokenizers
    clone = InGraphTokenizer.from_config(in_graph.get_config())
    text = tf.constant(["학교에서 친구를 만났다", "漢字 😂"])
    assert np.array_equal(clone(text)["input_ids"].numpy(), in_graph(text)["input_ids"].numpy())


def test_fast_tokenizer_basics(tokenizers):
    _, fast, _ = tokenizers
    assert fast.vocab_size == len(load_vocab(SAMPLE_VOCAB))
    assert fast.convert_ids_to_tokens(list(range(5))) == SPECIAL_TOKENS
    ids = fast.encode("오늘 회의는 취소되었습니다.")
    assert fast.decode(ids).replace(" ", "") == "오늘회의는취소되었습니다."
    with pytest.raises(ValueError, match="max_length"):
        fast.encode_for_model("a", "b", max_length=2)


def test_load_vocab_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_vocab(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_vocab(str(empty))
    no_specials = tmp_path / "bad.txt"
    no_specials.write_text("[PAD]\n[UNK]\n가\n")
    with pytest.raises(ValueError, match="missing special"):
        FastTokenizer.from_vocab_file(str(no_specials))


def test_saved_tokenizer_files_load_in_transformers(tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer_files(SAMPLE_VOCAB, str(tmp_path), max_length=128)
    assert sorted(os.listdir(tmp_path)) == ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    fast = FastTokenizer.from_vocab_file(SAMPLE_VOCAB)
    text = "서울시는 다음 달 1일부터 심야 노선을 늘린다고 밝혔다."
    for use_fast in (False, True):
        loaded = AutoTokenizer.from_pretrained(str(tmp_path), use_fast=use_fast)
        assert type(loaded).__name__.startswith("ElectraTokenizer")
        assert loaded.model_max_length == 128
        assert loaded(text, truncation=True, max_length=24, padding="max_length")["input_ids"] == \
            fast.encode_for_model(text, max_length=24)["input_ids"]
    assert loaded.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]


def test_character_classes_follow_transformers_definitions():
    """The NumPy tables against transformers' BasicTokenizer rules, written out per character."""
    from electra_tf.tokenization import is_isolated_char, is_removed_char

    def removed(char):
        return char not in "\t\n\r" and (ord(char) in (0, 0xFFFD) or unicodedata.category(char).startswith("C"))

    def isolated(char):
        code = ord(char)
        cjk = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
        return (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
                or unicodedata.category(char).startswith("P") or any(low <= code <= high for low, high in cjk))

    rng = np.random.default_rng(0)
    codes = list(range(0x3100)) + rng.integers(0x3100, 0x110000, 20000).tolist() + [0xFFFD, 0x2E52, 0x20000]
    for code in codes:
        char = chr(code)
        assert is_removed_char(char) == removed(char), hex(code)
        assert is_isolated_char(char) == isolated(char), hex(code)
