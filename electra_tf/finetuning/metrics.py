"""The metrics the KoELECTRA benchmark and GLUE report, over Python/numpy values: scikit-learn and scipy for
the sentence-level ones, seqeval for NER, the official KorQuAD script's definitions for EM/F1.

Scores are fractions in [0, 1] (correlations in [-1, 1]) except the KorQuAD ones, which are percentages.
"""

import collections
import re
import string

import numpy as np
from scipy import stats
from sklearn import metrics as sk_metrics


def accuracy(labels, predictions):
    if np.asarray(labels).size == 0:
        raise ValueError("accuracy of an empty set")
    return float(sk_metrics.accuracy_score(labels, predictions))


def macro_f1(labels, predictions, num_labels=None):
    """Unweighted mean over classes of per-class F1; with `num_labels`, a class never seen nor predicted
    counts as 0."""
    classes = list(range(num_labels)) if num_labels else None
    return float(sk_metrics.f1_score(labels, predictions, labels=classes, average="macro", zero_division=0))


def f1(labels, predictions):
    """F1 of the positive class (label id 1), as GLUE reports it for MRPC and QQP."""
    return float(sk_metrics.f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0))


def matthews_corrcoef(labels, predictions):
    """Matthews correlation coefficient (GLUE's CoLA metric); 0 when either side is constant."""
    return float(sk_metrics.matthews_corrcoef(labels, predictions))


def _constant(*arrays):
    return any(np.ptp(np.asarray(values, np.float64)) == 0 for values in arrays)


def pearson(labels, predictions):
    """Pearson's r; 0 when either side is constant (undefined)."""
    if _constant(labels, predictions):
        return 0.0
    return float(stats.pearsonr(labels, predictions).statistic)


def spearman(labels, predictions):
    """Spearman's rank correlation (ties share their average rank); 0 when either side is constant."""
    if _constant(labels, predictions):
        return 0.0
    return float(stats.spearmanr(labels, predictions).statistic)


def mse(labels, predictions):
    """Mean squared error of scores."""
    return float(sk_metrics.mean_squared_error(labels, predictions))


def sentence_scores(names, labels, predictions, num_labels=None):
    """`{name: score}` for the sentence-level metrics named in `names` (the tasks' declared metrics)."""
    scorers = {"accuracy": accuracy, "pearson": pearson, "spearman": spearman, "mse": mse, "f1": f1,
               "mcc": matthews_corrcoef,
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
