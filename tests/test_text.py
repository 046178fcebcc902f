"""Normalization, cleaning presets and the line reader."""

import random
import re
import unicodedata

import emoji
import pytest
from soynlp.normalizer import repeat_normalize

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
    ("www.example.kr에서 확인", "www.example.kr에서 확인"),  # the published pattern needs a scheme
    ("사랑해❤️윤세리", "사랑해 윤세리"),  # step (1) leaves a space where the emoji was
    ("링크https://x.kr/a가", "링크가"),  # nothing is left where the URL was
    ("링크https://x.kr가", "링크https://x.kr가"),  # no \b between "r" and "가": the published pattern misses it
    ("하하하하하 ㅋㅋㅋ ㅠㅠㅠㅠ!!!!", "하하 ㅋㅋㅋ ㅠㅠ!!!!"),
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


# --- KcELECTRA: a transcription of the clean() published in the KcELECTRA/KcBERT READMEs ------------------

_PUBLISHED_PATTERN = re.compile(f'[^ .,?!/@$%~％·∼()\x00-\x7Fㄱ-ㅣ가-힣]+')
_PUBLISHED_URL_PATTERN = re.compile(
    r'https?:\/\/(www\.)?[-a-zA-Z0-9@:%._\+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b([-a-zA-Z0-9()@:%_\+.~#?&//=]*)')


def published_clean(x):
    x = _PUBLISHED_PATTERN.sub(' ', x)
    x = emoji.replace_emoji(x, replace='')
    x = _PUBLISHED_URL_PATTERN.sub('', x)
    x = x.strip()
    x = repeat_normalize(x, num_repeats=2)
    return x


_WORDS = ["진짜", "배우", "연기", "최고", "윤세리", "사랑해", "기사", "댓글", "정부", "대통령", "국민", "경제", "이거", "ㅇㅈ",
          "완전", "했습니다", "좋아요", "그래서", "아니", "왜", "OOO", "XXX", "○○○", "기자"]
_ASCII = ["lol", "ok", "COVID-19", "iPhone15", "5G", "100%", "3.14", "a/b", "@user", "$10", "~", "(웃음)", "#태그",
          "e-mail", "x", "A+", "1,000원", "2024.01.02", "\"인용\"", "'따옴표'", "&", "*", "<b>", "[속보]", "{}", "|", "^^", ";;", ":)"]
_EMOJI_PIECES = ["😂", "❤️", "❤", "👍", "👍🏻", "👍🏿", "👨‍👩‍👧", "👩🏽‍💻", "🏳️‍🌈", "🇰🇷", "🇺🇸", "#️⃣", "1️⃣", "*️⃣", "☺︎", "✌",
                 "🫠", "🥲", "✨", "©", "™", "‼️", "🔥🔥🔥", "😍😍", "\u200d", "\ufe0f", "🏻"]
_REPEATS = ["ㅋㅋㅋㅋ", "ㅋㅋㅋ", "ㅎㅎㅎㅎㅎㅎ", "하하하하", "ㅠㅠㅠㅠㅠ", "ㅜㅜ", "!!!!", "????", "....", "~~~~", "와아아아아",
            "zzzz", "1111", "ㄱㄱㄱㄱ", "ㅡㅡ"]
_HANJA = ["大韓民國", "漢字", "韓·美", "中", "讀書"]
_JAMO = ["ㄱ", "ㅏ", "ㅣ", "ㆍ", "ㅥ", "ᄀ", "ᅡ", "ᆨ", "ᄒᆞᆫ"]
_OTHER = ["％", "·", "∼", "…", "《", "》", "「책」", "★", "☆", "→", "※", "“", "”", "°C", "ｆｕｌｌ", "カタカナ", "é", "\u00a0",
          "\u3000", "\t", "\u200b"]
_URL_HOSTS = ["example.com", "www.example.co.kr", "n.news.naver.com", "youtu.be", "x.kr", "bit.ly", "sub.domain.org"]
_URL_TAILS = ["", "/", "/watch?v=abc_123", "/a/b.html", "/기사/123", "?q=검색&x=1", "#top", "/path(1)", ":8080/x"]


def _random_url(rng):
    scheme = rng.choice(["https://", "http://", "https://www.", "", "www.", "HTTPS://"])
    return scheme + rng.choice(_URL_HOSTS) + rng.choice(_URL_TAILS)


def generated_comments(count=2400, seed=11):
    """Deterministic noisy comment lines composed from the pieces above (the same list on every run)."""
    rng = random.Random(seed)
    families = [(_WORDS, 10), (_ASCII, 2), (_EMOJI_PIECES, 2), (_REPEATS, 2), (_HANJA, 0.7), (_JAMO, 0.7),
                (_OTHER, 1.5), (None, 1.5)]
    pools, weights = zip(*families)
    lines = []
    for _ in range(count):
        pieces = []
        for _ in range(rng.randint(1, 16)):
            pool = rng.choices(pools, weights)[0]
            pieces.append(_random_url(rng) if pool is None else rng.choice(pool))
            pieces.append(rng.choices([" ", "", "  ", "\t"], [6, 3, 1, 0.3])[0])
        lines.append(rng.choice(["", " ", "  "]) + "".join(pieces))
    return lines


def test_generated_comments_cover_every_step():
    lines = [unicodedata.normalize("NFC", line) for line in generated_comments()]
    assert len(lines) >= 2000 and generated_comments() == generated_comments()
    step1 = [_PUBLISHED_PATTERN.sub(" ", line) for line in lines]
    step3 = [_PUBLISHED_URL_PATTERN.sub("", line) for line in step1]
    counts = {
        "non-kept runs replaced": sum(a != b for a, b in zip(lines, step1)),
        "URLs removed": sum(a != b for a, b in zip(step1, step3)),
        "www. kept": sum("www." in text and "://www." not in text for text in step3),
        "repeats shortened": sum(repeat_normalize(text.strip(), 2).replace(" ", "") != text.replace(" ", "")
                                 for text in step3),
        "URL glued to Hangul": sum(bool(re.search(r"[가-힣]https?://|https?://[^\s가-힣]+[가-힣]", text)) for text in step1),
    }
    for name in ("ZWJ", "skin tone", "flag", "keycap"):
        needle = {"ZWJ": "\u200d", "skin tone": "🏻", "flag": "🇰🇷", "keycap": "\u20e3"}[name]
        counts[name] = sum(needle in line for line in lines)
    assert all(count >= 30 for count in counts.values()), counts


def test_kcelectra_preset_is_the_published_clean():
    lines = generated_comments()
    mismatches = [(line, normalize_text(line, "kcelectra"), published_clean(unicodedata.normalize("NFC", line)))
                  for line in lines]
    mismatches = [row for row in mismatches if row[1] != row[2]]
    assert not mismatches, f"{len(mismatches)} lines differ, e.g. {mismatches[:3]}"
    # the transcription is sensitive: dropping step (1)'s space or step (3)'s deletion would be caught
    assert published_clean("사랑해❤️윤세리") == "사랑해 윤세리" and published_clean("링크https://x.kr/a가") == "링크가"
