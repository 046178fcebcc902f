"""Small helpers shared by the benchmarks: timing, taking turns, the Markdown table, the checkout's paths."""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout: configs/, data/, bench/


def train_peer_vocab(corpus, directory, vocab_size, min_frequency=2, limit_alphabet=6000):
    """`tokenizers.BertWordPieceTokenizer` trained on `corpus` as KoELECTRA trained its vocabularies (no
    lower-casing, accents kept, our special tokens first); returns the path of its `vocab.txt` in `directory`."""
    from tokenizers import BertWordPieceTokenizer

    from electra_tf.tokenization import SPECIAL_TOKENS

    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train([corpus], vocab_size=vocab_size, min_frequency=min_frequency, limit_alphabet=limit_alphabet,
                  special_tokens=SPECIAL_TOKENS, show_progress=False)
    os.makedirs(directory, exist_ok=True)
    trainer.save_model(directory)
    return os.path.join(directory, "vocab.txt")


def time_call(function, warmup=2, repeats=5):
    """Median wall seconds of `function()` after `warmup` calls (results are forced to host)."""
    for _ in range(warmup):
        _force(function())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _force(function())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_call(function):
    """Seconds of one `function()` call (result forced to host), as a list for `take_turns`."""
    return [time_call(function, warmup=0, repeats=1)]


def take_turns(runners, rounds):
    """Median seconds per call of each runner, the runners taking turns `rounds` times.

    `runners` maps a name to a function returning a list of per-call seconds (already warmed up). Taking turns
    lets drift in the machine's speed affect every candidate alike.
    """
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times[name] += run()
    return {name: statistics.median(values) for name, values in times.items()}


def _force(result):
    if isinstance(result, dict):
        result = next(iter(result.values()))
    if hasattr(result, "numpy"):
        result.numpy()
    return result


def print_table(title, rows, columns):
    """Prints a Markdown table (rows are dicts)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(column, "")) for column in columns) + " |")
