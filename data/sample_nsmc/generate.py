"""Writes ratings_train.txt (300 rows) and ratings_test.txt (100 rows) in the NSMC format.

Short movie-review-like sentences built from templates with clearly positive (label 1) or negative
(label 0) phrases; seeded, so running it again gives the same files:

    python data/sample_nsmc/generate.py
"""

import os
import random

OPENERS = ["", "솔직히 ", "진짜 ", "오랜만에 본 ", "주말에 본 ", "기대했던 ", "친구랑 본 ", "큰 화면으로 본 "]
SUBJECTS = ["영화", "이 작품", "배우들 연기", "스토리", "결말", "음악", "연출", "주인공 캐릭터", "대사", "영상미"]
POSITIVE = ["정말 재밌었어요", "최고였다", "너무 감동적이었다", "또 보고 싶다", "강력 추천합니다", "완벽했다",
            "시간 가는 줄 몰랐다", "마음에 쏙 들었다", "훌륭했어요", "인생 영화 등극", "여운이 길게 남는다", "대박이다"]
NEGATIVE = ["너무 지루했다", "최악이었다", "돈이 아깝다", "보다가 잠들었다", "실망스러웠다", "추천하지 않아요",
            "시간 낭비였다", "별로였어요", "유치했다", "엉망이었다", "어색하고 재미없다", "다시는 안 본다"]
ENDINGS = {1: ["", "!", "!!", " ㅎㅎ", " 👍", " 10점 만점에 10점", " 최고 ㅠㅠ"],
           0: ["", ".", "...", " ㅡㅡ", " 비추", " 1점도 아깝다", " 에휴"]}


def rows(seed=13):
    rng = random.Random(seed)
    seen, output = set(), []
    while len(output) < 400:
        label = len(output) % 2
        phrase = rng.choice(POSITIVE if label else NEGATIVE)
        text = f"{rng.choice(OPENERS)}{rng.choice(SUBJECTS)} {phrase}{rng.choice(ENDINGS[label])}"
        if text not in seen:
            seen.add(text)
            output.append((text, label))
    rng.shuffle(output)
    return output


def write(path, examples, first_id):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id\tdocument\tlabel\n")
        for offset, (text, label) in enumerate(examples):
            handle.write(f"{first_id + offset}\t{text}\t{label}\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    examples = rows()
    write(os.path.join(here, "ratings_train.txt"), examples[:300], 9100001)
    write(os.path.join(here, "ratings_test.txt"), examples[300:], 9200001)


if __name__ == "__main__":
    main()
