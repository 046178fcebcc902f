"""The metric functions against values worked out by hand on constructed cases."""

import numpy as np
import pytest
from scipy import stats

from electra_tf.finetuning import metrics


def test_accuracy():
    assert metrics.accuracy([0, 1, 1, 0, 1], [0, 1, 0, 0, 0]) == pytest.approx(3 / 5)
    with pytest.raises(ValueError):
        metrics.accuracy([], [])


def test_macro_f1_hand_computed():
    # classes none(0)/offensive(1)/hate(2)
    gold = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    # class 0: tp 2, pred 2, gold 3 -> p 1, r 2/3, f1 0.8
    # class 1: tp 1, pred 2, gold 2 -> p 1/2, r 1/2, f1 0.5
    # class 2: tp 1, pred 2, gold 1 -> p 1/2, r 1, f1 2/3
    assert metrics.macro_f1(gold, pred, num_labels=3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # a class never seen nor predicted counts as zero when num_labels says it exists
    assert metrics.macro_f1([0, 1], [0, 1], num_labels=3) == pytest.approx(2 / 3)


def test_sentence_scores_by_declared_names():
    gold, pred = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
    scores = metrics.sentence_scores(("macro_f1", "accuracy"), gold, pred, num_labels=4)
    assert list(scores) == ["macro_f1", "accuracy"]  # the declared order: the first selects the best epoch
    assert scores["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3 + 0) / 4)  # the 4th class counts as 0
    assert scores["accuracy"] == pytest.approx(4 / 6)
    regression = metrics.sentence_scores(("spearman", "pearson", "mse"), [1.0, 2.0, 4.0], [1.0, 3.0, 3.0])
    assert regression["mse"] == pytest.approx(2 / 3)
    assert regression["spearman"] == pytest.approx(0.8660254, abs=1e-6)  # ranks 1, 2.5, 2.5 vs 1, 2, 3
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['f2'\]"):
        metrics.sentence_scores(("accuracy", "f2"), gold, pred)


def test_spearman_and_pearson_hand_computed():
    gold = [1.0, 2.0, 3.0, 4.0, 5.0]
    pred = [5.0, 6.0, 7.0, 8.0, 7.0]  # ranks 1, 2, 3.5, 5, 3.5
    # d = [0, 0, -0.5, -1, 1.5]; with ties use Pearson of ranks
    ranks = np.array([1, 2, 3.5, 5, 3.5])
    expected = np.corrcoef([1, 2, 3, 4, 5], ranks)[0, 1]
    assert metrics.spearman(gold, pred) == pytest.approx(expected)
    assert metrics.spearman(gold, pred) == pytest.approx(stats.spearmanr(gold, pred).statistic)
    assert metrics.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert metrics.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert metrics.pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_entity_f1_suffix_style_hand_computed():
    gold = [["PER-B", "PER-I", "O", "LOC-B"], ["ORG-B", "O", "DAT-B", "DAT-I"]]
    pred = [["PER-B", "PER-I", "O", "ORG-B"], ["ORG-B", "O", "DAT-B", "O"]]
    # gold entities: PER(0-1), LOC(3), ORG(0), DAT(2-3) = 4; predicted: PER(0-1), ORG(3), ORG(0), DAT(2) = 4
    # correct: PER(0-1), ORG(0) = 2 -> p = r = f1 = 0.5
    scores = metrics.entity_f1(gold, pred)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    perfect = metrics.entity_f1(gold, gold)
    assert perfect["f1"] == pytest.approx(1.0)


def test_korquad_normalization():
    assert metrics.normalize_answer("《한라산》") == "한라산"
    assert metrics.normalize_answer("‘세종’ (대왕)") == "세종 대왕"
    assert metrics.normalize_answer("  ABC,  Def.  ") == "abc def"
    assert metrics.normalize_answer("1,947미터") == "1947미터"


def test_korquad_em_and_character_f1_hand_computed():
    assert metrics.korquad_exact_match("《훈민정음》", "훈민정음") == 1.0
    assert metrics.korquad_exact_match("훈민정음을", "훈민정음") == 0.0
    # characters: prediction 훈민정음을 (5), truth 훈민정음 (4), overlap 4 -> p 4/5, r 1, f1 8/9
    assert metrics.korquad_f1("훈민정음을", "훈민정음") == pytest.approx(8 / 9)
    # spaces do not count: "제주도 중앙" vs "제주도" -> overlap 3, p 3/5, r 1 -> 0.75
    assert metrics.korquad_f1("제주도 중앙", "제주도") == pytest.approx(0.75)
    assert metrics.korquad_f1("부산", "서울") == 0.0
    scores = metrics.korquad_scores({"a": ["1446년", "1446년에"], "b": ["한라산"], "c": ["부산"]},
                                    {"a": "1446년에", "b": "한라산은", "c": "서울"})
    # a: EM 1 F1 1; b: EM 0, F1 p 3/4 r 1 -> 6/7; c: 0 (and missing ids score 0 too)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 6 / 7) / 3)
