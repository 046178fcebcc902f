"""Normalization, cleaning presets and the line reader."""

import unicodedata

import pytest

from electra_tf.text import CLEANING_PRESETS, LineReader, normalize_text, read_lines


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
    assert list(read_lines(str(tmp_path / "*.txt"))) == ["😂😂", "가나", "다라"]


def test_line_reader_missing_input_names_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        LineReader(str(tmp_path / "nothing-here*.txt"))
