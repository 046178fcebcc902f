"""Rebuilds NSMC from its crawl (e9t/nsmc `raw/*.json`) at any size, and a pre-training corpus without its reviews.

As the NSMC README says: ratings 1-4 are negative (0), 9-10 positive (1), 5-8 left out; reviews under 140
characters; the classes balanced (here exactly, in each split); a seeded, deterministic split. Review texts are
whitespace-normalized (tabs and newlines become spaces) and taken once each (the first by review id), so no text
is in both splits. `--corpus_out` gets every other review of the crawl (all ratings and lengths), minus every
text in the NSMC train or test files, one review per line and a blank line between movies (documents); movies
come in a seeded random order so that `--max_corpus_mb` keeps a random sample of them.

    python scripts/make_nsmc.py --nsmc_repo NSMC_CLONE --out data_dir [--train 150000 --test 50000] \\
        [--corpus_out corpus.txt --max_corpus_mb 0 --exclude ratings.txt] [--seed 1234]
    python -m electra_tf.finetuning --task nsmc --data_dir data_dir ...

NSMC_CLONE is a clone of github.com/e9t/nsmc: a work tree holding raw/, or a bare git directory (read with git).
Needs electra_tf installed (`pip install -e .`, or PYTHONPATH set to the checkout).
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys

import tensorflow as tf

from electra_tf import io_utils

NEGATIVE, POSITIVE = {"1", "2", "3", "4"}, {"9", "10"}
HEADER = "id\tdocument\tlabel\n"


def normalize(text):
    """One line of text: runs of whitespace (tabs, newlines) become one space, ends stripped."""
    return re.sub(r"\s+", " ", text).strip()


def read_crawl(repo):
    """Yields `(file name, reviews)` for every `raw/*.json` of an e9t/nsmc clone, sorted by file name."""
    raw = os.path.join(repo, "raw")
    if tf.io.gfile.isdir(raw):
        for name in sorted(tf.io.gfile.listdir(raw)):
            if name.endswith(".json"):
                with tf.io.gfile.GFile(os.path.join(raw, name), "r") as handle:
                    yield name, _parse(handle.read(), os.path.join(raw, name))
        return
    yield from _read_bare(repo)


def _read_bare(git_dir):
    """Reads raw/*.json from a git directory in one `git cat-file --batch` process."""
    listing = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "HEAD", "raw/"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise FileNotFoundError(f"--nsmc_repo {git_dir}: neither a directory with raw/ nor a git directory "
                                f"({listing.stderr.strip()})")
    entries = sorted(line.split("\t")[::-1] for line in listing.stdout.splitlines() if line.endswith(".json"))
    process = subprocess.Popen(["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for path, meta in entries:
            process.stdin.write(meta.split()[2].encode() + b"\n")
            process.stdin.flush()
            size = int(process.stdout.readline().split()[2])
            content = process.stdout.read(size + 1)[:size].decode("utf-8")
            yield os.path.basename(path), _parse(content, f"{git_dir}:{path}")
    finally:
        process.stdin.close()
        process.wait()


def _parse(content, where):
    try:
        reviews = json.loads(content)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: invalid JSON at line {error.lineno}: {error.msg}") from error
    if not isinstance(reviews, list):
        raise ValueError(f"{where}: expected a JSON list of reviews")
    return reviews


def build(movies, train_size, test_size, seed, max_chars=140):
    """`(train, test, used)`: the NSMC splits as `(id, text, label)` rows and the set of texts they hold.

    `movies` is a list of `(name, reviews)`. Raises ValueError when a class has too few reviews.
    """
    if train_size % 2 or test_size % 2:
        raise ValueError(f"--train {train_size} and --test {test_size} must be even (the classes are balanced)")
    candidates = {0: [], 1: []}
    seen = set()
    rows = sorted(((int(review["review_id"]), normalize(review["review"]), review["rating"])
                   for _, reviews in movies for review in reviews), key=lambda row: row[0])
    for review_id, text, rating in rows:
        label = 0 if rating in NEGATIVE else 1 if rating in POSITIVE else None
        if label is None or not text or len(text) >= max_chars or text in seen:
            continue
        seen.add(text)
        candidates[label].append((str(review_id), text, label))
    rng = random.Random(seed)
    train, test = [], []
    for label in (0, 1):
        needed = (train_size + test_size) // 2
        if len(candidates[label]) < needed:
            raise ValueError(f"only {len(candidates[label])} reviews of label {label} under {max_chars} characters, "
                             f"{needed} needed: lower --train/--test")
        chosen = rng.sample(candidates[label], needed)
        train += chosen[:train_size // 2]
        test += chosen[train_size // 2:]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test, {text for _, text, _ in train + test}


def read_documents(path):
    """The normalized `document` texts of an NSMC-format file (`id document label`, header line)."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"--exclude {path}: no such file")
    with tf.io.gfile.GFile(path, "r") as handle:
        lines = handle.read().splitlines()
    if not lines or lines[0].split("\t")[:3] != ["id", "document", "label"]:
        raise ValueError(f"{path}:1: expected the header id<TAB>document<TAB>label")
    return {normalize(line.split("\t")[1]) for line in lines[1:] if line.count("\t") >= 2}


def write_split(path, rows):
    with io_utils.atomic_file(path) as handle:
        handle.write(HEADER)
        for review_id, text, label in rows:
            handle.write(f"{review_id}\t{text}\t{label}\n")


def write_corpus(path, movies, excluded, seed, max_mb=0):
    """Writes every review not in `excluded`, one per line, a blank line between movies; returns
    `(reviews, movies, bytes)` written. Stops before the movie that would pass `max_mb` (0: no cap)."""
    order = list(range(len(movies)))
    random.Random(seed).shuffle(order)
    limit = max_mb * 2 ** 20 if max_mb else None
    written = {"reviews": 0, "movies": 0, "bytes": 0}
    with io_utils.atomic_file(path) as handle:
        for index in order:
            lines = [text for text in (normalize(review["review"]) for review in movies[index][1])
                     if text and text not in excluded]
            if not lines:
                continue
            block = "\n".join(lines) + "\n\n"
            size = len(block.encode("utf-8"))
            if limit is not None and written["bytes"] + size > limit:
                if not written["movies"]:
                    raise ValueError(f"--max_corpus_mb {max_mb}: smaller than the first movie ({size} bytes)")
                break
            handle.write(block)
            written["reviews"] += len(lines)
            written["movies"] += 1
            written["bytes"] += size
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nsmc_repo", required=True, help="e9t/nsmc clone: a directory with raw/ or a git dir.")
    parser.add_argument("--out", required=True, help="Directory for ratings_train.txt and ratings_test.txt.")
    parser.add_argument("--train", type=int, default=150000)
    parser.add_argument("--test", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--max_chars", type=int, default=140, help="Reviews must be shorter than this.")
    parser.add_argument("--corpus_out", help="Pre-training corpus file of the other reviews.")
    parser.add_argument("--exclude", action="append", default=[], help="NSMC-format file (e.g. the original "
                        "ratings.txt) whose documents are kept out of the corpus too; repeatable.")
    parser.add_argument("--max_corpus_mb", type=float, default=0, help="Cap of the corpus (0: everything).")
    args = parser.parse_args(argv)
    try:
        movies = list(read_crawl(args.nsmc_repo))
        if not movies:
            raise FileNotFoundError(f"--nsmc_repo {args.nsmc_repo}: no raw/*.json")
        train, test, used = build(movies, args.train, args.test, args.seed, args.max_chars)
        for path in args.exclude:
            used |= read_documents(path)
    except (FileNotFoundError, ValueError, KeyError) as error:
        sys.exit(f"error: {error}")
    write_split(os.path.join(args.out, "ratings_train.txt"), train)
    write_split(os.path.join(args.out, "ratings_test.txt"), test)
    print(f"NSMC: {len(train)} train + {len(test)} test reviews from {len(movies)} movies -> {args.out}")
    if args.corpus_out:
        try:
            counts = write_corpus(args.corpus_out, movies, used, args.seed, args.max_corpus_mb)
        except ValueError as error:
            sys.exit(f"error: {error}")
        print(f"corpus: {counts['reviews']} reviews of {counts['movies']} movies, {counts['bytes'] / 2**20:.1f} MB "
              f"-> {args.corpus_out}")


if __name__ == "__main__":
    main()
