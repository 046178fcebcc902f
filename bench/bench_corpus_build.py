"""Corpus-build throughput (MB/s of raw text → TFRecord shards): `build_pretraining_data` with
``--num_workers`` 1 and 2 vs the same packing driven by `transformers.ElectraTokenizer` (slow, pure Python,
like the original builder's BERT tokenizer).

The Korean corpus (one sentence per line, blank lines between documents) is generated here from Korean
words and endings, in a temporary directory; a WordPiece vocab is trained on its first 2 MB. The baseline
runs the same shard code (`build_shards`, one process) with the slow tokenizer on the first `--baseline_mb`
of the corpus, its MB/s taken as representative of the whole. Every time includes reading, normalization,
tokenization, packing and TFRecord writing, and each electra_tf build builds its own tokenizer (character
tables, graph tracing); the worker runs also include planning and any process start-up. Imports and
TensorFlow's start-up happen once, before all timings. The configurations and the baseline take turns for
`--rounds` rounds and the medians are reported (the machine drifts between runs). The "processes" column is
what ``--num_workers`` turned into (`worker_processes`: one per two CPU cores and per 128 MiB of input at
most).

Run: `python -m bench.bench_corpus_build [--size_mb 50] [--baseline_mb 4] [--max_seq_length 128] [--rounds 3]`.
"""

import argparse
import os
import random
import tempfile
import time

import numpy as np

from bench.common import print_table, train_peer_vocab

NOUNS = ("서울 정부 대통령 시장 경제 기업 학생 학교 선생님 병원 의사 환자 날씨 여름 겨울 가을 봄 바다 산 도시 "
         "버스 지하철 교통 요금 시민 주민 지역 사회 문화 음식 김치 커피 영화 음악 드라마 배우 가수 경기 선수 "
         "축구 야구 대회 국회 의원 법안 예산 세금 주택 아파트 가격 금리 은행 투자 증권 회사 직원 회의 보고서 "
         "연구 기술 인공지능 컴퓨터 스마트폰 인터넷 데이터 서비스 사용자 고객 제품 판매 수출 수입 시장 정책 "
         "환경 에너지 전기 자동차 도로 공항 비행기 여행 관광객 호텔 축제 행사 공연 전시 박물관 도서관 책 작가 "
         "아이 부모 가족 친구 사람 마을 농촌 농민 쌀 과일 사과 배추 가뭄 비 눈 태풍 바람 하늘").split()
PARTICLES = "은 는 이 가 을 를 에 에서 의 와 과 도 로 으로 까지 부터 만 보다 처럼".split()
ADVERBS = "매우 아주 조금 다시 함께 이미 아직 곧 가장 더 덜 모두 특히 점점 갑자기 꾸준히 크게 작게".split()
PREDICATES = ("했다 한다 하였다 밝혔다 설명했다 말했다 늘었다 줄었다 올랐다 내렸다 있다 없다 된다 되었다 "
              "전했다 발표했다 계획이다 예정이다 보인다 나타났다 강조했다 지적했다 시작했다 마쳤다 열렸다 "
              "좋아한다 싫어한다 바란다 생각한다 알려졌다").split()
NUMBERS = ("1 2 3 10 12 15 20 100 2024년 3월 5일 30% 2,500원 1만 명 7시").split()


def korean_sentence(rng):
    words = []
    for _ in range(rng.randint(3, 12)):
        kind = rng.random()
        if kind < 0.55:
            noun = rng.choice(NOUNS) + (rng.choice(NOUNS) if rng.random() < 0.2 else "")
            words.append(noun + rng.choice(PARTICLES))
        elif kind < 0.75:
            words.append(rng.choice(ADVERBS))
        elif kind < 0.85:
            words.append(rng.choice(NUMBERS))
        else:
            words.append(rng.choice(NOUNS))
    return " ".join(words) + " " + rng.choice(PREDICATES) + rng.choice("....?!")


def write_corpus(path, size_bytes, seed=0):
    """Writes documents of 2-15 sentences separated by blank lines until `size_bytes` is reached."""
    rng = random.Random(seed)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < size_bytes:
            document = "\n".join(korean_sentence(rng) for _ in range(rng.randint(2, 15))) + "\n\n"
            handle.write(document)
            written += len(document.encode("utf-8"))
    return written


def head_file(source, target, size_bytes):
    """Copies the first `size_bytes` of `source` (cut at a blank line) to `target`."""
    with open(source, "rb") as handle:
        data = handle.read(size_bytes)
    with open(target, "wb") as handle:
        handle.write(data[: data.rfind(b"\n\n") + 2])
    return os.path.getsize(target)


class SlowTokenizer:
    """`transformers.ElectraTokenizer` (pure Python) behind the interface `build_shards` uses."""

    def __init__(self, vocab_file):
        from transformers import ElectraTokenizer

        self._tokenizer = ElectraTokenizer(vocab_file, do_lower_case=False, strip_accents=False)
        self.tokens = [token for token, _ in sorted(self._tokenizer.vocab.items(), key=lambda item: item[1])]

    def encode_lines(self, lines):
        ids = [self._tokenizer.convert_tokens_to_ids(self._tokenizer.tokenize(line)) for line in lines]
        return np.array([i for line_ids in ids for i in line_ids], np.int32), np.array([len(i) for i in ids])


def run_baseline(corpus, vocab_file, output_dir, max_seq_length):
    from electra_tf.data.shard_pipeline import ShardTask, build_shards
    from electra_tf.data.shard_plan import plan_shards

    tokenizer = SlowTokenizer(vocab_file)
    task = ShardTask(index=0, pieces=plan_shards([corpus], 1)[0], path=os.path.join(output_dir, "baseline.tfrecord"),
                     vocab_file=vocab_file, max_seq_length=max_seq_length, seed=0, cleaning="none",
                     blanks_separate_docs=True)
    os.makedirs(output_dir, exist_ok=True)
    start = time.perf_counter()
    stats, = build_shards([task], tokenizer=tokenizer)
    return time.perf_counter() - start, stats


def time_build(corpus, vocab_file, output_dir, max_seq_length, workers):
    """One timed build that pays its own tokenizer set-up (the per-process imports are done beforehand)."""
    from electra_tf import tokenization
    from electra_tf.data import build_pretraining_data as builder
    from electra_tf.data import shard_pipeline

    shard_pipeline._TOKENIZERS.clear()
    tokenization.character_tables.cache_clear()
    tokenization.character_class_patterns.cache_clear()
    start = time.perf_counter()
    stats = builder.build_pretraining_data(corpus, vocab_file, output_dir, max_seq_length, num_workers=workers,
                                           overwrite=True, progress=False)
    return time.perf_counter() - start, stats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size_mb", type=float, default=50)
    parser.add_argument("--baseline_mb", type=float, default=4)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (imports and TensorFlow's start-up are outside every timing)

    tf.constant(0) + 1
    with tempfile.TemporaryDirectory() as directory:
        corpus = os.path.join(directory, "corpus.txt")
        size = write_corpus(corpus, int(args.size_mb * 1e6))
        vocab_corpus = os.path.join(directory, "vocab_corpus.txt")
        head_file(corpus, vocab_corpus, 2_000_000)
        vocab_file = train_peer_vocab(vocab_corpus, directory, args.vocab_size, limit_alphabet=1000)
        subset = os.path.join(directory, "subset.txt")
        subset_size = head_file(corpus, subset, int(args.baseline_mb * 1e6))
        times = {workers: [] for workers in args.workers}
        baseline_times = []
        for _ in range(args.rounds):
            for workers in args.workers:
                seconds, stats = time_build(corpus, vocab_file, os.path.join(directory, f"out{workers}"),
                                            args.max_seq_length, workers)
                times[workers].append((seconds, stats))
            baseline_times.append(run_baseline(subset, vocab_file, os.path.join(directory, "baseline"),
                                               args.max_seq_length))
        baseline_seconds, baseline_stats = sorted(baseline_times, key=lambda item: item[0])[len(baseline_times) // 2]
        baseline = subset_size / 1e6 / baseline_seconds
        print("seconds per round:", {workers: [round(run[0], 2) for run in runs] for workers, runs in times.items()},
              "baseline:", [round(run[0], 2) for run in baseline_times])
        rows = []
        for workers, runs in times.items():
            seconds, stats = sorted(runs, key=lambda item: item[0])[len(runs) // 2]
            rows.append({"builder": f"electra_tf, --num_workers {workers}", "processes": stats["worker_processes"],
                         "MB": f"{size / 1e6:.1f}", "seconds": f"{seconds:.2f}", "MB/s": size / 1e6 / seconds,
                         "examples": stats["examples"], "shards": stats["num_shards"]})
        rows.append({"builder": "same packing, transformers.ElectraTokenizer (slow)", "processes": 1,
                     "MB": f"{subset_size / 1e6:.1f} (subset)", "seconds": f"{baseline_seconds:.2f}",
                     "MB/s": baseline, "examples": baseline_stats["examples"], "shards": 1})
        for row in rows:
            row["vs baseline"] = f"{row['MB/s'] / baseline:.1f}x"
            row["MB/s"] = f"{row['MB/s']:.2f}"
        print_table(f"Corpus build, generated Korean corpus, max_seq_length {args.max_seq_length}, "
                    f"vocab {args.vocab_size}, {os.cpu_count()} CPU cores, median of {args.rounds} alternating rounds",
                    rows, ["builder", "processes", "MB", "seconds", "MB/s", "vs baseline", "examples", "shards"])


if __name__ == "__main__":
    main()
