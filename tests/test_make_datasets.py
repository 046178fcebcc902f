"""scripts/make_nsmc.py and scripts/make_korsts.py (loaded from their files: scripts/ is not a package), on
made-up reviews and a made-up KorNLUDatasets work tree."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_nsmc, make_korsts = _script("make_nsmc"), _script("make_korsts")


def _review(review_id, text, rating, movie):
    return {"review": text, "rating": str(rating), "review_id": str(review_id), "movie_id": movie,
            "date": "15.08.25", "author": "a****"}


def _crawl(directory, movies=6, per_movie=12):
    """raw/<movie>.json files: ratings cycle 1..10, one review of each movie too long, one text repeated."""
    raw = directory / "raw"
    raw.mkdir(parents=True)
    review_id = 0
    for movie in range(movies):
        reviews = []
        for index in range(per_movie):
            review_id += 1
            reviews.append(_review(review_id, f"영화 {movie} 리뷰\t{index}\n끝", index % 10 + 1, str(movie)))
        reviews.append(_review(review_id + 1000, "가" * 140, 10, str(movie)))
        reviews.append(_review(review_id + 2000, "똑같은 리뷰", 1, str(movie)))
        (raw / f"{movie}.json").write_text(json.dumps(reviews, ensure_ascii=False), encoding="utf-8")
    return directory


def _rows(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tdocument\tlabel"
    return [line.split("\t") for line in lines[1:]]


def test_make_nsmc_balances_splits_and_keeps_their_texts_out_of_the_corpus(tmp_path):
    repo = _crawl(tmp_path / "nsmc")
    out, corpus = tmp_path / "out", tmp_path / "corpus.txt"
    make_nsmc.main(["--nsmc_repo", str(repo), "--out", str(out), "--train", "12", "--test", "6",
                    "--corpus_out", str(corpus)])
    train, test = _rows(out / "ratings_train.txt"), _rows(out / "ratings_test.txt")
    assert [len(train), len(test)] == [12, 6]
    for rows in (train, test):
        assert sorted(label for _, _, label in rows).count("0") == len(rows) // 2
    texts = {text for _, text, _ in train + test}
    assert len(texts) == 18  # each text once: the repeated review at most once, never in both splits
    assert all(len(text) < 140 and "\t" not in text for text in texts)
    ratings = {review["review_id"]: review["rating"] for path in (repo / "raw").iterdir()
               for review in json.loads(path.read_text(encoding="utf-8"))}
    for review_id, _, label in train + test:
        assert ratings[review_id] in ({"1", "2", "3", "4"} if label == "0" else {"9", "10"})
    documents = corpus.read_text(encoding="utf-8").split("\n\n")
    lines = [line for document in documents for line in document.splitlines()]
    assert not texts & set(lines)
    assert "가" * 140 in lines and any(line.startswith("영화 0 리뷰 4") for line in lines)  # other ratings kept
    assert len([document for document in documents if document.strip()]) == 6


def test_make_nsmc_exclude_keeps_another_nsmc_out_of_the_corpus(tmp_path):
    repo = _crawl(tmp_path / "nsmc")
    other = tmp_path / "ratings.txt"
    other.write_text("id\tdocument\tlabel\n1\t영화 3 리뷰 4 끝\t0\n", encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    arguments = ["--nsmc_repo", str(repo), "--out", str(tmp_path / "out"), "--train", "2", "--test", "2",
                 "--corpus_out", str(corpus)]
    make_nsmc.main(arguments)
    assert "영화 3 리뷰 4 끝" in corpus.read_text(encoding="utf-8").splitlines()  # a rating 5 review
    make_nsmc.main(arguments + ["--exclude", str(other)])
    assert "영화 3 리뷰 4 끝" not in corpus.read_text(encoding="utf-8").splitlines()


def test_make_nsmc_is_deterministic_and_seeded(tmp_path):
    repo = _crawl(tmp_path / "nsmc")
    outputs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        make_nsmc.main(["--nsmc_repo", str(repo), "--out", str(tmp_path / name), "--train", "8", "--test", "4",
                        "--seed", str(seed)])
        outputs.append((tmp_path / name / "ratings_train.txt").read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] != outputs[2]


def test_make_nsmc_refuses_sizes_the_crawl_cannot_fill(run_commands, tmp_path):
    repo = _crawl(tmp_path / "nsmc", movies=1)
    command = [os.path.join(ROOT, "scripts", "make_nsmc.py"), "--nsmc_repo", str(repo), "--out", str(tmp_path / "out"),
               "--train", "100", "--test", "20"]
    result = run_commands({"make_nsmc": command})["make_nsmc"]
    assert result.returncode != 0 and "error: only" in result.stderr


def test_make_nsmc_corpus_cap_stops_at_a_movie_boundary(tmp_path):
    movies = [(str(index), [_review(index * 10 + line, "리뷰 " * 300 + str(line), 5, str(index))
                            for line in range(3)]) for index in range(5)]
    path = tmp_path / "corpus.txt"
    counts = make_nsmc.write_corpus(str(path), movies, excluded=set(), seed=0, max_mb=0.015)
    text = path.read_text(encoding="utf-8")
    assert counts["bytes"] == len(text.encode("utf-8")) <= 0.015 * 2 ** 20
    assert 0 < counts["movies"] < 5 and counts["reviews"] == 3 * counts["movies"]
    assert text.endswith("\n\n")
    with pytest.raises(ValueError, match="smaller than the first movie"):
        make_nsmc.write_corpus(str(path), movies, excluded=set(), seed=0, max_mb=0.001)


def test_make_korsts_copies_the_three_files_or_names_the_missing_one(tmp_path, capsys):
    repo = tmp_path / "kornlu"
    (repo / "KorSTS").mkdir(parents=True)
    for name in make_korsts.FILES:
        (repo / "KorSTS" / name).write_text(f"genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
                                            f"g\tf\t2017\t1\t4.5\t{name} 문장\t다른 문장\n", encoding="utf-8")
    make_korsts.main(["--kornlu_repo", str(repo), "--out", str(tmp_path / "out")])
    for name in make_korsts.FILES:
        assert (tmp_path / "out" / name).read_text(encoding="utf-8") == (repo / "KorSTS" / name).read_text(
            encoding="utf-8")
    assert "sts-dev.tsv: 1 pairs" in capsys.readouterr().out
    (repo / "KorSTS" / "sts-test.tsv").unlink()
    with pytest.raises(SystemExit, match="error: --kornlu_repo .*: no KorSTS/sts-test.tsv"):
        make_korsts.main(["--kornlu_repo", str(repo), "--out", str(tmp_path / "out2")])
