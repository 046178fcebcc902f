"""Normalization, cleaning presets and the line reader."""

import unicodedata

import pytest

from electra_tf.io_utils import InvalidUtf8, read_line_blocks
from electra_tf.text import CLEANING_PRESETS, LineReader, normalize_text


def test_nfd_hangul_becomes_nfc_syllables():
    nfd = unicodedata.normalize("NFD", "한국어 텍스트")
    assert len(nfd) > len("한국어 텍스트")
    for cleaning in CLEANING_PRESETS:
        text = normalize_text(nfd, cleaning)
        assert text == "한국어 텍스트", cleaning
        assert not any(0x1100 <= ord(char) <= 0x11FF for char in text)


def test_none_preset_only_normalizes():
    text = "  탭\t과  공백  😂 https://example.com  "
    assert normalize_text(text) == text


def test_koelectra_preset_cleans_whitespace_and_controls():
    assert normalize_text(" 가\u200b나\t다\n\n라\x07  마\ufeff ", "koelectra") == "가나 다 라 마"


@pytest.mark.parametrize("raw, expected", [
    ("ㅋㅋㅋㅋㅋ 진짜 웃기닼ㅋㅋㅋㅋ", "ㅋㅋ 진짜 웃기닼ㅋㅋ"),
    ("이 영화 최고 😍😍 👍🏻 강추!!", "이 영화 최고 강추!!"),
    ("자세한 건 https://example.com/a?b=1 여기 참고", "자세한 건 여기 참고"),
    ("www.example.kr에서 확인", "에서 확인"),
    ("大韓民國 만세 ★☆ 《책》", "만세 책"),
    ("  와아아아아아 대박  ", "와아아 대박"),
    ("가격: 1,000원 (50% 할인) ~ 30% ％ · ∼", "가격: 1,000원 (50% 할인) ~ 30% ％ · ∼"),
])
def test_kcelectra_preset_examples(raw, expected):
    assert normalize_text(raw, "kcelectra") == expected


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="cleaning='kobert'.*none, koelectra, kcelectra"):
        normalize_text("가", "kobert")


def test_line_reader_counts_invalid_utf8_and_keeps_going(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("첫 줄\n".encode() + b"\xff\xfe broken \xed\x95\n" + "\n셋째 줄\r\n".encode()
                     + unicodedata.normalize("NFD", "넷째").encode())
    reader = LineReader(str(path))
    rows = list(reader)
    assert [(number, text) for _, number, text in rows] == [
        (1, "첫 줄"), (2, "\ufffd\ufffd broken \ufffd"), (3, ""), (4, "셋째 줄"), (5, "넷째")]
    assert all(row_path == str(path) for row_path, _, _ in rows)
    assert reader.invalid_utf8_lines == 1
    assert reader.invalid_utf8_examples == [(str(path), 2)]
    assert "1 line(s) had invalid UTF-8" in reader.report() and f"{path}:2" in reader.report()


def test_line_reader_globs_cleaning_and_dropped_lines(tmp_path):
    (tmp_path / "a.txt").write_text("😂😂\n가나\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n다라\n", encoding="utf-8")
    reader = LineReader([str(tmp_path / "*.txt")], cleaning="kcelectra")
    rows = [(path.rsplit("/", 1)[-1], number, text) for path, number, text in reader]
    assert rows == [("a.txt", 2, "가나"), ("b.txt", 1, ""), ("b.txt", 2, "다라")]
    assert reader.dropped_lines == 1 and reader.invalid_utf8_lines == 0
    assert [text for _, _, text in LineReader(str(tmp_path / "*.txt")) if text] == ["😂😂", "가나", "다라"]


def test_line_reader_missing_input_names_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        LineReader(str(tmp_path / "nothing-here*.txt"))


def test_line_blocks_split_only_on_newlines_at_any_block_size(tmp_path):
    data = "가나\r\n다\r라\n\n마\u2028바\x0b\x0c\x1c\x85사\r\n".encode() + b"\xff\xc3 x\r\n" + "아\r".encode()
    path = str(tmp_path / "lines.txt")
    open(path, "wb").write(data)
    expected = ["가나", "다\r라", "", "마\u2028바\x0b\x0c\x1c\x85사", "\ufffd\ufffd x", "아\r"]
    for block_bytes in (1, 2, 3, 7, 1 << 20):
        invalid, read = InvalidUtf8(), []
        blocks = list(read_line_blocks(path, invalid=invalid, on_read=read.append, block_bytes=block_bytes))
        assert [line for block in blocks for line in block] == expected
        assert sum(read) == len(data)
        assert invalid.lines == 1 and invalid.locations == [(path, data.index(b"\xff"), 5)]
    start = data.index("마".encode())  # a line start: line numbers count from there
    invalid = InvalidUtf8()
    lines = [line for block in read_line_blocks(path, start, data.index("아".encode()), invalid) for line in block]
    assert lines == expected[3:5] and invalid.locations == [(path, data.index(b"\xff"), 2)]
    with pytest.raises(ValueError, match="lines.txt:5: not valid UTF-8"):
        list(read_line_blocks(path))
