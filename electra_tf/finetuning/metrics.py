"""The metrics the KoELECTRA benchmark, GLUE and KLUE report, over Python/numpy values: scikit-learn and scipy
for the sentence-level ones, seqeval for NER, the official KorQuAD script's definitions for EM/F1 and the KLUE
paper's for KLUE-MRC.

Scores are fractions in [0, 1] (correlations in [-1, 1]) except the question-answering ones (KorQuAD, KLUE-MRC),
which are percentages.
"""

import collections
import re
import string
import warnings

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


def binary_f1(labels, predictions, threshold=3.0):
    """F1 of scores binarised at `threshold` (a score >= it is positive), KLUE-STS's second metric."""
    return f1(np.asarray(labels) >= threshold, np.asarray(predictions) >= threshold)


def sentence_scores(names, labels, predictions, num_labels=None):
    """`{name: score}` for the sentence-level metrics named in `names` (the tasks' declared metrics)."""
    scorers = {"accuracy": accuracy, "pearson": pearson, "spearman": spearman, "mse": mse, "f1": f1,
               "mcc": matthews_corrcoef, "binary_f1": binary_f1,
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


def entity_macro_f1(label_sequences, prediction_sequences):
    """KLUE-NER's entity-level macro F1: seqeval's strict IOB2 entities (`B-PS`-style tags), F1 per entity type
    averaged over the types."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    return float(f1_score(label_sequences, prediction_sequences, average="macro", mode="strict", scheme=IOB2,
                          zero_division=0))


def character_macro_f1(label_sequences, prediction_sequences, tags):
    """KLUE-NER's character-level macro F1: per-character tags scored as classes, F1 averaged over every tag in
    `tags` (`O` included, as KLUE's evaluation code does; a tag neither present nor predicted counts as 1)."""
    gold = [tag for sequence in label_sequences for tag in sequence]
    predicted = [tag for sequence in prediction_sequences for tag in sequence]
    return float(sk_metrics.f1_score(gold, predicted, labels=list(tags), average="macro", zero_division=1))


def micro_f1_without(labels, predictions, num_labels, excluded):
    """Micro F1 over the classes other than `excluded` (KLUE-RE leaves out `no_relation`)."""
    classes = [index for index in range(num_labels) if index != excluded]
    return float(sk_metrics.f1_score(labels, predictions, labels=classes, average="micro", zero_division=0))


def auprc(labels, probabilities):
    """Area under the precision-recall curve of each class (one against the rest, trapezoids over
    scikit-learn's curve), averaged over all classes: KLUE-RE's second metric. As in KLUE's code, a class absent
    from `labels` still counts (scikit-learn sets its recall to 1: an area of 0.5)."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    areas = []
    for index in range(probabilities.shape[1]):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "No positive class found", UserWarning)
            precision, recall, _ = sk_metrics.precision_recall_curve(labels == index, probabilities[:, index])
        areas.append(sk_metrics.auc(recall, precision))
    return float(np.mean(areas))


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


# KLUE-MRC (the KLUE paper's definitions) --------------------------------------------------------------------

def longest_common_substring(first, second):
    """Length of the longest run of characters both strings contain."""
    best, previous = 0, [0] * (len(second) + 1)
    for char in first:
        current = [0]
        for index, other in enumerate(second):
            current.append(previous[index] + 1 if char == other else 0)
        best = max(best, max(current))
        previous = current
    return best


def rouge_w(prediction, ground_truth):
    """KLUE's character-level ROUGE-W: the F1 of the longest common consecutive subsequence of the two strings;
    an empty ground truth (an unanswerable question) scores 1 for an empty prediction, else 0."""
    if not ground_truth:
        return float(prediction == ground_truth)
    common = longest_common_substring(prediction, ground_truth)
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction), common / len(ground_truth)
    return 2 * precision * recall / (precision + recall)


def klue_mrc_scores(answers, predictions):
    """`answers`: question id → list of gold texts (empty for an unanswerable question, whose only right answer
    is ""); `predictions`: id → text. Exact match and ROUGE-W in percent over the normalised strings (KorQuAD's
    normalisation), the max over each question's gold answers, averaged over all questions."""
    if not answers:
        raise ValueError("KLUE-MRC evaluation over no questions")
    exact = rouge = 0.0
    for qid, golds in answers.items():
        prediction = normalize_answer(predictions.get(qid, ""))
        golds = [normalize_answer(gold) for gold in golds] or [""]
        exact += max(float(prediction == gold) for gold in golds)
        rouge += max(rouge_w(prediction, gold) for gold in golds)
    return {"exact_match": 100.0 * exact / len(answers), "rouge_w": 100.0 * rouge / len(answers)}
