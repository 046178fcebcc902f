"""The WordPiece vocabulary builder."""

import json
import os
import subprocess
import sys

import pytest

from electra_tf import vocab as vocab_module
from electra_tf.tokenization import SPECIAL_TOKENS, FastTokenizer, load_vocab
from electra_tf.vocab import build_vocab, morpheme_words

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
SAMPLE_VOCAB_DIR = os.path.join(ROOT, "data", "sample_vocab")


def test_layout_special_then_unused_then_learned(tmp_path):
    tokens = build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1500, num_unused=7, show_progress=False)
    written = load_vocab(str(tmp_path / "vocab.txt"))
    assert written == tokens and len(written) == 1500 and len(set(written)) == 1500
    assert written[:5] == SPECIAL_TOKENS == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert written[5:12] == [f"[unused{i}]" for i in range(7)]
    assert not any(token.startswith("[unused") for token in written[12:])
    assert any(token.startswith("##") for token in written) and "서울" in written
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is False


def test_same_input_same_vocab(tmp_path):
    first = build_vocab(SAMPLE_CORPUS, str(tmp_path / "a"), vocab_size=1500, show_progress=False)
    second = build_vocab(SAMPLE_CORPUS, str(tmp_path / "b"), vocab_size=1500, show_progress=False)
    assert first == second


def test_committed_sample_vocab_is_reproducible(tmp_path):
    """data/sample_vocab is exactly what the command in data/README.md builds (in a fresh process)."""
    command = [sys.executable, "-m", "electra_tf.vocab", "--input", SAMPLE_CORPUS, "--output_dir", str(tmp_path),
               "--vocab_size", "2000", "--min_frequency", "2", "--num_unused", "20"]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert load_vocab(str(tmp_path / "vocab.txt")) == load_vocab(os.path.join(SAMPLE_VOCAB_DIR, "vocab.txt"))
    with open(os.path.join(ROOT, "data", "README.md"), encoding="utf-8") as handle:
        assert "--vocab_size 2000 --min_frequency 2 --num_unused 20" in handle.read()


def test_empty_input_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="--input: No non-empty line.*empty.txt"):
        build_vocab(str(empty), str(tmp_path / "out"), vocab_size=100, show_progress=False)
    assert not (tmp_path / "out" / "vocab.txt").exists()


def test_vocab_smaller_than_reserved_tokens_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=25 leaves no room.*5 special and 20 unused"):
        build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=25, num_unused=20, show_progress=False)


def test_vocab_smaller_than_the_alphabet_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=800 is too small.*characters.*--limit_alphabet"):
        build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=800, show_progress=False)
    tokens = build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=800, limit_alphabet=300, show_progress=False)
    assert len(tokens) == 800


def test_failed_build_leaves_earlier_vocab_intact(tmp_path, monkeypatch):
    build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1400, show_progress=False)
    before = (tmp_path / "vocab.txt").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr(vocab_module, "_train", broken)
    with pytest.raises(RuntimeError, match="trainer crashed"):
        build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1500, show_progress=False)
    assert (tmp_path / "vocab.txt").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]


def test_invalid_utf8_is_replaced_and_reported(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(open(SAMPLE_CORPUS, "rb").read() + b"\xff\xfe\xfd \xea\xb0\n")
    build_vocab(str(corpus), str(tmp_path / "out"), vocab_size=1500, show_progress=False)
    assert "1 line(s) had invalid UTF-8" in capsys.readouterr().err


def test_morpheme_split_marks_non_initial_morphemes():
    from tokenizers import pre_tokenizers

    text = "아버지가방에 들어가신다."
    words = morpheme_words(text, lambda _: {0, 3, 4, 5, 7, 10}, pre_tokenizers.BertPreTokenizer())
    assert words == "아버지 \ue000가 \ue000방 \ue000에 들어가 \ue000신다 ."


@pytest.mark.parametrize("pretokenizer", ["mecab", "kiwi"])
def test_morpheme_pretokenizers_give_continuation_pieces(tmp_path, pretokenizer):
    tokens = build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1700, num_unused=3,
                         pretokenizer=pretokenizer, show_progress=False)
    assert tokens[:8] == SPECIAL_TOKENS + ["[unused0]", "[unused1]", "[unused2]"]
    assert len(tokens) == 1700 and len(set(tokens)) == 1700
    assert not any("\ue000" in token for token in tokens)
    for piece in ("##가", "##는", "##을", "##에서"):
        assert piece in tokens, piece
    # plain WordPiece at inference splits the particle off as a continuation piece
    tokenizer = FastTokenizer(tokens)
    assert tokenizer.tokenize("학교에서") in (["학교", "##에서"], ["학교", "##에", "##서"])


def test_unknown_pretokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="pretokenizer='okt'"):
        build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=300, pretokenizer="okt")


# --- --merge_vocab (KcELECTRA: trained vocabulary + the rest of KoELECTRA's) ------------------------------

def test_merge_vocabularies_appends_missing_tokens_in_order():
    trained = SPECIAL_TOKENS + ["[unused0]", "가", "##나", "서울"]
    other = SPECIAL_TOKENS + ["[unused0]", "[unused1]", "서울", "부산", "##나", "##다", "부산", "[unused7]", "[UNK]"]
    merged, report = vocab_module.merge_vocabularies(trained, other)
    assert merged == trained + ["부산", "##다"]
    assert report == {"trained_tokens": 9, "other_tokens": 4, "overlap": 2, "added": 2, "total": 11}


@pytest.fixture(scope="module")
def merged_vocab(tmp_path_factory):
    """A 1,500-token trained vocabulary merged with the 2,000-token sample vocabulary (built in a subprocess
    through the command line, `--merge_vocab` given the directory that holds it)."""
    base = tmp_path_factory.mktemp("merge")
    alone = build_vocab(SAMPLE_CORPUS, str(base / "alone"), vocab_size=1500, num_unused=3, show_progress=False)
    other = os.path.join(SAMPLE_VOCAB_DIR, "vocab.txt")
    command = [sys.executable, "-m", "electra_tf.vocab", "--input", SAMPLE_CORPUS, "--output_dir",
               str(base / "merged"), "--vocab_size", "1500", "--num_unused", "3",
               "--merge_vocab", SAMPLE_VOCAB_DIR]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr
    assert "already trained" in done.stderr
    assert json.loads((base / "merged" / "merge_report.json").read_text())["merged_from"] == other
    return alone, load_vocab(other), str(base / "merged")


def test_merge_keeps_trained_ids_and_reports_overlap(merged_vocab):
    alone, other, merged_dir = merged_vocab
    merged = load_vocab(os.path.join(merged_dir, "vocab.txt"))
    assert merged[:1500] == alone  # every trained id unchanged
    expected_added = [token for token in other
                      if token not in alone and token not in SPECIAL_TOKENS and not token.startswith("[unused")]
    assert merged[1500:] == expected_added and len(expected_added) > 200
    assert len(set(merged)) == len(merged)
    report = json.loads(open(os.path.join(merged_dir, "merge_report.json"), encoding="utf-8").read())
    assert report["trained_tokens"] == 1500 and report["added"] == len(expected_added)
    assert report["overlap"] == 2000 - 5 - 20 - len(expected_added) and report["total"] == len(merged)


def test_merged_vocab_ids_match_transformers_in_both_tokenizers(merged_vocab):
    import tensorflow as tf
    from transformers import ElectraTokenizer

    from electra_tf.tokenization import InGraphTokenizer

    _, _, merged_dir = merged_vocab
    vocab_path = os.path.join(merged_dir, "vocab.txt")
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    lines += [" ".join(reversed(line.split())) for line in lines[:100]]  # other word orders
    lines += ["서울시청에서ㅋㅋ 漢字 😂 ELECTRA", "아버지가방에들어가신다", "[CLS] 회의는 3시 [MASK]"]
    assert len(lines) >= 300
    slow = ElectraTokenizer(vocab_path, do_lower_case=False)
    expected = [slow.encode(line, add_special_tokens=False) for line in lines]
    assert FastTokenizer.from_vocab_file(vocab_path).encode_batch(lines) == expected
    assert InGraphTokenizer(vocab_path).token_ids(tf.constant(lines)).to_list() == expected
    assert any(token_id >= 1500 for row in expected for token_id in row)  # the appended tokens are used


def test_merge_with_missing_file_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(vocab_module, "_train", lambda *args: pytest.fail("trained before checking --merge_vocab"))
    with pytest.raises(FileNotFoundError, match="nope/vocab.txt"):
        build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1000, merge_vocab=str(tmp_path / "nope" / "vocab.txt"))


# --- Dialog-KoELECTRA's options: 500 unused first, limit_alphabet 6000, min_frequency 3, mecab ---------------

def test_dialog_koelectra_options(tmp_path, monkeypatch):
    calls = []
    original = vocab_module.morpheme_words
    monkeypatch.setattr(vocab_module, "morpheme_words", lambda *args: calls.append(1) or original(*args))
    tokens = build_vocab(SAMPLE_CORPUS, str(tmp_path), vocab_size=1950, min_frequency=3, limit_alphabet=6000,
                         num_unused=500, pretokenizer="mecab", show_progress=False)
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        assert len(calls) == sum(1 for line in handle if line.strip())  # every line went through MeCab
    written = load_vocab(str(tmp_path / "vocab.txt"))
    assert written == tokens and len(written) == 1950 and len(set(written)) == 1950
    assert written[:505] == SPECIAL_TOKENS + [f"[unused{i}]" for i in range(500)]  # ids 0-504
    assert not any(token.startswith("[unused") for token in written[505:])
    assert "##는" in written and "##에서" in written
