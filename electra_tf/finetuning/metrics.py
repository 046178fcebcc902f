"""The metrics the KoELECTRA benchmark reports, as plain functions over Python/numpy values.

Scores are fractions in [0, 1] except the KorQuAD ones, which follow the official script and are percentages.
"""

import collections
import re
import string

import numpy as np


def accuracy(labels, predictions):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.size == 0:
        raise ValueError("accuracy of an empty set")
    return float(np.mean(labels == predictions))


def macro_f1(labels, predictions, num_labels=None):
    """Unweighted mean over classes of per-class F1 (a class never seen nor predicted counts as 0,
    like scikit-learn's `f1_score(average="macro", labels=range(num_labels))`)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = range(num_labels) if num_labels else sorted(set(labels.tolist()) | set(predictions.tolist()))
    scores = []
    for cls in classes:
        true_positive = np.sum((predictions == cls) & (labels == cls))
        predicted = np.sum(predictions == cls)
        actual = np.sum(labels == cls)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores))


def pearson(labels, predictions):
    labels = np.asarray(labels, np.float64)
    predictions = np.asarray(predictions, np.float64)
    if labels.std() == 0 or predictions.std() == 0:
        return 0.0
    return float(np.corrcoef(labels, predictions)[0, 1])


def _average_ranks(values):
    """Ranks 1..n with ties sharing their average rank (what Spearman's rho needs)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(labels, predictions):
    """Spearman's rank correlation: Pearson's r of the (tie-averaged) ranks."""
    return pearson(_average_ranks(labels), _average_ranks(predictions))


def mse(labels, predictions):
    """Mean squared error of scores."""
    return float(np.mean((np.asarray(labels, np.float64) - np.asarray(predictions, np.float64)) ** 2))


def sentence_scores(names, labels, predictions, num_labels=None):
    """`{name: score}` for the sentence-level metrics named in `names` (the tasks' declared metrics)."""
    scorers = {"accuracy": accuracy, "pearson": pearson, "spearman": spearman, "mse": mse,
               "macro_f1": lambda gold, predicted: macro_f1(gold, predicted, num_labels=num_labels)}
    unknown = [name for name in names if name not in scorers]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {sorted(scorers)}")
    return {name: scorers[name](labels, predictions) for name in names}


# Sequence labelling ---------------------------------------------------------------------------------------

def entity_f1(label_sequences, prediction_sequences, suffix=True):
    """seqeval's micro entity F1 / precision / recall (default mode, `suffix=True` for `PER-B` tags)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    kwargs = dict(suffix=suffix, zero_division=0)
    return {
        "f1": float(f1_score(label_sequences, prediction_sequences, **kwargs)),
        "precision": float(precision_score(label_sequences, prediction_sequences, **kwargs)),
        "recall": float(recall_score(label_sequences, prediction_sequences, **kwargs)),
    }


# KorQuAD 1.0 (official evaluation script's definitions) ----------------------------------------------------

_KORQUAD_REMOVED = re.compile("['\"《》<>〈〉()‘’]")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """KorQuAD's normalisation: the quote/bracket symbols become spaces, lower-case, ASCII punctuation removed,
    whitespace collapsed."""
    text = _KORQUAD_REMOVED.sub(" ", text)
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(text.split())


def korquad_exact_match(prediction, ground_truth):
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def korquad_f1(prediction, ground_truth):
    """Character-level F1 of the normalised strings, spaces excluded (the official script's definition)."""
    prediction_chars = list("".join(normalize_answer(prediction).split()))
    truth_chars = list("".join(normalize_answer(ground_truth).split()))
    common = collections.Counter(prediction_chars) & collections.Counter(truth_chars)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_chars)
    recall = overlap / len(truth_chars)
    return 2 * precision * recall / (precision + recall)


def korquad_scores(answers, predictions):
    """`answers`: question id → list of gold texts; `predictions`: id → text. Returns EM/F1 in percent,
    the max over each question's gold answers, averaged over all questions (a missing prediction scores 0)."""
    if not answers:
        raise ValueError("KorQuAD evaluation over no questions")
    exact = f1 = 0.0
    for qid, golds in answers.items():
        prediction = predictions.get(qid)
        if prediction is None:
            continue
        exact += max(korquad_exact_match(prediction, gold) for gold in golds)
        f1 += max(korquad_f1(prediction, gold) for gold in golds)
    return {"exact_match": 100.0 * exact / len(answers), "f1": 100.0 * f1 / len(answers)}
