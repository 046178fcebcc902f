"""Raw-text inference throughput (sentences/s, batch 32, seq 128): our SavedModel's `predict_text` (in-graph
tensorflow-text tokenization) vs transformers' `TFElectraForSequenceClassification` with its fast tokenizer,
on the same weights and sentences, in one process; the two alternate call by call and medians are compared.
Run: `python bench/bench_serving.py [--preset P]`.
"""

import argparse
import functools
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import one_call, print_table, take_turns, time_call  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sentences(count=32, seed=0):
    """Korean review-like sentences of varied length (written for this benchmark)."""
    pieces = ["이 영화는", "배우들의 연기가", "정말", "생각보다", "너무", "훌륭했고", "지루했지만", "음악이 좋았다",
              "다시 보고 싶다", "시간이 아까웠다", "감독의 연출이", "인상적이었다", "결말이 아쉬웠다", "ㅋㅋ", "최고!"]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(pieces, rng.integers(8, 40))) for _ in range(count)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--vocab", default=os.path.join(ROOT, "data", "sample_vocab", "vocab.txt"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import tensorflow_text  # noqa: F401
    import transformers

    from electra_tf.config import ElectraConfig
    from electra_tf.export import export_transformers
    from electra_tf.models import build_model
    from electra_tf.serving import export_saved_model
    from electra_tf.tokenization import load_vocab

    config = ElectraConfig.from_preset(args.preset, vocab_size=len(load_vocab(args.vocab))).with_labels(
        ["부정", "긍정"])
    model = build_model(config, "sequence_classification")
    texts = sentences()
    with tempfile.TemporaryDirectory() as directory:
        export_transformers(model, os.path.join(directory, "hf"), vocab_file=args.vocab)
        saved = export_saved_model(model, os.path.join(directory, "serving"), args.vocab, max_length=128)
        serving = tf.saved_model.load(saved).signatures["predict_text"]
        theirs = transformers.TFElectraForSequenceClassification.from_pretrained(os.path.join(directory, "hf"))
        tokenizer = transformers.AutoTokenizer.from_pretrained(os.path.join(directory, "hf"), use_fast=True)
    forward = tf.function(lambda inputs: theirs(inputs).logits)

    def transformers_predict():
        inputs = tokenizer(texts, padding="max_length", truncation=True, max_length=128, return_tensors="tf")
        return tf.nn.softmax(forward(dict(inputs)))

    text_tensor = tf.constant(texts)
    peer_name = "transformers fast tokenizer + TFElectraForSequenceClassification"
    candidates = {"electra_tf SavedModel predict_text (raw strings)": lambda: serving(text=text_tensor)["score"],
                  peer_name: transformers_predict}
    for function in candidates.values():
        time_call(function, warmup=2, repeats=1)
    seconds = take_turns({name: functools.partial(one_call, function) for name, function in candidates.items()},
                         args.repeats)
    peer = seconds[peer_name]
    rows = [{"pipeline": name, "s/batch": f"{value:.3f}", "sentences/s": f"{len(texts) / value:.1f}",
             "ratio vs transformers": f"{peer / value:.2f}x"} for name, value in seconds.items()]
    print_table(f"Raw-text inference, {args.preset}, batch {len(texts)} x 128", rows,
                ["pipeline", "s/batch", "sentences/s", "ratio vs transformers"])


if __name__ == "__main__":
    main()
