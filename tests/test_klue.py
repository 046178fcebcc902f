"""KLUE: the readers take the official formats (fixtures written in them, tests/fixtures/klue/), the metrics match
scikit-learn / SciPy / hand computations of the KLUE paper's definitions, and the character-level NER mapping
puts each sub-token's tag on its characters."""

import json
import os
import re

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics

from electra_tf.finetuning import metrics
from electra_tf.finetuning.readers import BadRowError, MissingLabelsError, read_json_records
from electra_tf.finetuning.tasks import KLUE, get_task
from electra_tf.tokenization import FastTokenizer

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "klue")


class _Hparams:
    max_seq_length = 32


def _records(task, split):
    name = get_task(task).splits[split]
    with open(os.path.join(FIXTURES, task, name), encoding="utf-8") as handle:
        return json.load(handle)


def _ner_sentences(path):
    """An independent parse of the NER file: (guid, characters, tags) per blank-line-separated block."""
    with open(path, encoding="utf-8") as handle:
        blocks = handle.read().strip("\n").split("\n\n")
    sentences = []
    for block in blocks:
        lines = block.split("\n")
        guid = [line for line in lines if line.startswith("## klue")][0][3:].split("\t")[0]
        pairs = [line.split("\t") for line in lines if not line.startswith("##")]
        sentences.append((guid, [char for char, _ in pairs], [tag for _, tag in pairs]))
    return sentences


def _tokenizer(*texts):
    """A vocab holding the specials, the fixtures' characters (as first and `##` pieces) and some whole words."""
    chars = sorted({char for text in texts for char in text if not char.isspace()})
    words = ["김철수", "서울", "선수가", "넣었다"]
    return FastTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *chars, *("##" + c for c in chars)])


# Readers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task_name,fields", [
    ("ynat", ("title", None, "label")),
    ("klue-nli", ("premise", "hypothesis", "gold_label")),
    ("klue-sts", ("sentence1", "sentence2", "labels")),
])
def test_json_tasks_read_the_official_records(task_name, fields):
    task = get_task(task_name)
    for split in ("train", "dev"):
        examples = task.read(os.path.join(FIXTURES, task_name), split).examples
        records = _records(task_name, split)
        assert [e.guid for e in examples] == [r["guid"] for r in records]
        assert [e.text_a for e in examples] == [r[fields[0]] for r in records]
        assert [e.text_b for e in examples] == [r[fields[1]] if fields[1] else None for r in records]
        if task_name == "klue-sts":
            assert [e.label for e in examples] == [r["labels"]["label"] for r in records]
        else:
            assert [task.labels[e.label] for e in examples] == [r[fields[2]] for r in records]


def test_json_records_carry_their_line_numbers_and_errors_name_the_line(tmp_path):
    records = _records("klue-nli", "dev")
    path = os.path.join(FIXTURES, "klue-nli", "klue-nli-v1.1_dev.json")
    lines = open(path, encoding="utf-8").read().split("\n")
    starts = [number for number, _ in read_json_records(path)]
    assert len(starts) == len(records) and [lines[n - 1].strip() for n in starts] == ["{"] * len(records)
    assert [json.loads(lines[n].strip().rstrip(",").join("{}"))["guid"] for n in starts] == [
        r["guid"] for r in records]

    bad = [dict(records[0]), {**records[1], "gold_label": "maybe"}]
    directory = tmp_path / "nli"
    directory.mkdir()
    (directory / "klue-nli-v1.1_train.json").write_text(json.dumps(bad, indent=2), encoding="utf-8")
    line = [number for number, text in enumerate(json.dumps(bad, indent=2).split("\n"), 1) if text == "  {"][1]
    with pytest.raises(BadRowError, match=rf"klue-nli-v1.1_train.json:{line}: unknown label 'maybe'"):
        get_task("klue-nli").read(str(directory), "train")
    assert len(get_task("klue-nli", skip_bad_rows=True).read(str(directory), "train").examples) == 1
    (directory / "klue-nli-v1.1_dev.json").write_text(json.dumps([{"premise": "a", "hypothesis": "b"}]),
                                                       encoding="utf-8")
    with pytest.raises(MissingLabelsError, match="gold_label"):
        get_task("klue-nli").read(str(directory), "dev")
    missing_comma = "[" + json.dumps(records[0]) + "\n" + json.dumps(records[1]) + "]"
    (directory / "klue-nli-v1.1_dev.json").write_text(missing_comma, encoding="utf-8")
    with pytest.raises(BadRowError, match="klue-nli-v1.1_dev.json:2: expected ','"):  # where the second record starts
        get_task("klue-nli").read(str(directory), "dev")


def test_ner_reads_one_character_per_line():
    task = get_task("klue-ner")
    for split in ("train", "dev"):
        path = task.split_path(os.path.join(FIXTURES, "klue-ner"), split)
        examples = task.read(os.path.join(FIXTURES, "klue-ner"), split).examples
        expected = _ner_sentences(path)
        assert [(e.guid, e.words, [task.labels[i] for i in e.labels]) for e in examples] == expected


def test_ner_bad_line_names_the_line(tmp_path):
    source = os.path.join(FIXTURES, "klue-ner", "klue-ner-v1.1_dev.tsv")
    lines = open(source, encoding="utf-8").read().split("\n")
    lines[7] = "민\tB-XX"
    (tmp_path / "klue-ner-v1.1_dev.tsv").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BadRowError, match=r"klue-ner-v1.1_dev.tsv:8: unknown tag 'B-XX'"):
        get_task("klue-ner").read(str(tmp_path), "dev")
    data = get_task("klue-ner", skip_bad_rows=True).read(str(tmp_path), "dev")
    assert len(data.examples) == 1 and len(data.bad_rows) == 1  # the sentence with the bad line is dropped


def test_relation_sentences_carry_typed_entity_markers():
    task = get_task("klue-re")
    examples = task.read(os.path.join(FIXTURES, "klue-re"), "train").examples
    records = _records("klue-re", "train")
    assert examples[0].text_a == "@ * PER * 김철수 @ 는 # ^ ORG ^ 한국대학교 # 를 졸업했다."
    assert examples[5].text_a == "# ^ PER ^ 정다은 # 은 @ * ORG * 한빛전자 @ 의 대표이다."  # object first
    assert [task.labels[e.label] for e in examples] == [r["label"] for r in records]
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(len(examples), len(task.labels)))
    scores, predictions = task.evaluate(examples, None, {"logits": logits})
    gold = [e.label for e in examples]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert scores == {"micro_f1": metrics.micro_f1_without(gold, logits.argmax(1), len(task.labels), 0),
                      "auprc": pytest.approx(metrics.auprc(gold, probabilities))}


def test_relation_entity_not_at_its_span_is_a_bad_row(tmp_path):
    records = _records("klue-re", "dev")
    records[1]["object_entity"]["start_idx"] += 1
    (tmp_path / "klue-re-v1.1_dev.json").write_text(json.dumps(records, ensure_ascii=False, indent=4),
                                                    encoding="utf-8")
    with pytest.raises(BadRowError, match=r"_dev.json:\d+: object_entity '2001년' is not at characters"):
        get_task("klue-re").read(str(tmp_path), "dev")


def test_mrc_reads_unanswerable_questions_and_answers_them_with_cls():
    task = get_task("klue-mrc")
    examples = task.read(os.path.join(FIXTURES, "klue-mrc"), "dev").examples
    with open(task.split_path(os.path.join(FIXTURES, "klue-mrc"), "dev"), encoding="utf-8") as handle:
        questions = [qa for article in json.load(handle)["data"] for paragraph in article["paragraphs"]
                     for qa in paragraph["qas"]]
    assert [(e.qid, e.unanswerable) for e in examples] == [(q["guid"], q["is_impossible"]) for q in questions]
    context = examples[0].context
    tokenizer = _tokenizer(context, *(e.question for e in examples))

    class Hparams:
        max_seq_length, doc_stride, max_query_length, n_best_size, max_answer_length = 64, 32, 16, 20, 30

    features = task.featurize(examples, tokenizer, Hparams(), training=True)
    assert list(features.labels["start_positions"][1:]) == [0]  # the unanswerable one trains towards [CLS]
    # logits: every window prefers the answer span, except that [CLS] wins for the second question
    start = np.full((2, 64), -5.0)
    end = np.full((2, 64), -5.0)
    start[0, features.labels["start_positions"][0]] = end[0, features.labels["end_positions"][0]] = 3.0
    start[1, 20] = end[1, 21] = 1.0
    start[1, 0] = end[1, 0] = 2.0
    scores, predictions = task.evaluate(examples, task.featurize(examples, tokenizer, Hparams()),
                                        {"start_logits": start, "end_logits": end})
    assert predictions == {examples[0].qid: "박민수", examples[1].qid: ""}
    assert scores == {"exact_match": 100.0, "rouge_w": 100.0}
    start[1, 0] = end[1, 0] = 0.0  # now the span wins: a wrong answer to an unanswerable question
    scores, predictions = task.evaluate(examples, task.featurize(examples, tokenizer, Hparams()),
                                        {"start_logits": start, "end_logits": end})
    assert predictions[examples[1].qid] != "" and scores == {"exact_match": 50.0, "rouge_w": 50.0}


# NER: sub-tokens ↔ characters --------------------------------------------------------------------------------

def test_ner_subtoken_tags_cover_their_characters():
    task = get_task("klue-ner")
    examples = task.read(os.path.join(FIXTURES, "klue-ner"), "dev").examples
    sentence = "".join(examples[0].words)  # 박민수 선수가 2골을 넣었다.
    tokenizer = _tokenizer(sentence)
    features = task.featurize(examples[:1], tokenizer, _Hparams())
    length = features.inputs["attention_mask"][0].sum()
    pieces = tokenizer.convert_ids_to_tokens(features.inputs["input_ids"][0][1:length - 1])
    assert pieces[:5] == ["박", "##민", "##수", "선수가", "2"]
    # training labels: each sub-token gets its first character's tag
    tags = [task.labels[i] for i in features.labels["labels"][0][1:len(pieces) + 1]]
    assert tags[:5] == ["B-PS", "I-PS", "I-PS", "O", "B-QT"]
    # predicted: B-PS on 박, O on ##민 (a broken entity), B-OG on 선수가 (covers 선, 수, 가)
    logits = np.zeros((1, _Hparams.max_seq_length, len(task.labels)))
    logits[0, :, task.labels.index("O")] = 1
    for position, tag in ((1, "B-PS"), (4, "B-OG")):
        logits[0, position, task.labels.index(tag)] = 2
    scores, predictions = task.evaluate(examples[:1], features, {"logits": logits})
    assert predictions[0][:7] == ["B-PS", "O", "O", "O", "B-OG", "I-OG", "I-OG"]
    gold = [task.labels[i] for c, i in zip(examples[0].words, examples[0].labels) if c != " "]
    predicted = [t for c, t in zip(examples[0].words, predictions[0]) if c != " "]
    assert scores["char_macro_f1"] == pytest.approx(sk_metrics.f1_score(
        gold, predicted, labels=task.labels, average="macro", zero_division=1))


def test_ner_truncated_characters_are_not_scored():
    task = get_task("klue-ner")
    examples = task.read(os.path.join(FIXTURES, "klue-ner"), "dev").examples[1:]
    tokenizer = _tokenizer("".join(examples[0].words))

    class Short:
        max_seq_length = 8

    features = task.featurize(examples, tokenizer, Short())
    assert features.truncated == 1
    kept = features.inputs["attention_mask"][0].sum() - 2
    reach = features.meta.reach[0]
    pieces = tokenizer.convert_ids_to_tokens(features.inputs["input_ids"][0][1:kept + 1])
    assert "".join(piece.replace("##", "") for piece in pieces) == "".join(
        char for char in examples[0].words[:reach] if char != " ")
    # perfect logits on the kept sub-tokens: a perfect score over the characters they reach
    logits = np.zeros((1, 8, len(task.labels)))
    for position in range(1, kept + 1):
        logits[0, position, features.labels["labels"][0][position]] = 1
    scores, _ = task.evaluate(examples, features, {"logits": logits})
    gold = [task.labels[i] for c, i in zip(examples[0].words[:reach], examples[0].labels) if c != " "]
    assert scores["char_macro_f1"] == 1.0 and len(gold) < sum(c != " " for c in examples[0].words)


# Metrics -----------------------------------------------------------------------------------------------------

def test_sts_pearson_and_binary_f1():
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 50).round(1)
    predicted = gold + rng.normal(0, 1.0, 50)
    scores = metrics.sentence_scores(("pearson", "binary_f1"), gold, predicted)
    assert scores["pearson"] == pytest.approx(stats.pearsonr(gold, predicted)[0], abs=1e-12)
    positive_gold, positive_predicted = gold >= 3.0, predicted >= 3.0
    tp = np.sum(positive_gold & positive_predicted)
    precision, recall = tp / positive_predicted.sum(), tp / positive_gold.sum()
    assert scores["binary_f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)


def _entities(tags):
    """Strict IOB2 entities by hand: a B-X followed by its I-X run; an I-X without a B-X starts nothing."""
    spans, index = set(), 0
    while index < len(tags):
        if tags[index].startswith("B-"):
            kind, end = tags[index][2:], index + 1
            while end < len(tags) and tags[end] == "I-" + kind:
                end += 1
            spans.add((kind, index, end))
            index = end
        else:
            index += 1
    return spans


def test_entity_and_character_macro_f1_against_hand_counts():
    gold = [["B-PS", "I-PS", "O", "B-LC", "O", "B-PS"], ["B-OG", "I-OG", "I-OG", "O"]]
    predicted = [["B-PS", "I-PS", "O", "B-LC", "I-LC", "O"], ["I-OG", "I-OG", "I-OG", "B-PS"]]
    gold_spans = {(row, *span) for row, tags in enumerate(gold) for span in _entities(tags)}
    predicted_spans = {(row, *span) for row, tags in enumerate(predicted) for span in _entities(tags)}
    f1s = []
    for kind in sorted({span[1] for span in gold_spans | predicted_spans}):
        g = {s for s in gold_spans if s[1] == kind}
        p = {s for s in predicted_spans if s[1] == kind}
        tp = len(g & p)
        f1s.append(0.0 if tp == 0 else 2 * tp / (len(g) + len(p)))
    assert metrics.entity_macro_f1(gold, predicted) == pytest.approx(np.mean(f1s))

    tags = get_task("klue-ner").labels
    flat_gold, flat_predicted = sum(gold, []), sum(predicted, [])
    per_tag = []
    for tag in tags:
        tp = sum(g == tag and p == tag for g, p in zip(flat_gold, flat_predicted))
        gold_count, predicted_count = flat_gold.count(tag), flat_predicted.count(tag)
        per_tag.append(1.0 if gold_count + predicted_count == 0 else 2 * tp / (gold_count + predicted_count))
    assert metrics.character_macro_f1(gold, predicted, tags) == pytest.approx(np.mean(per_tag))


def test_relation_micro_f1_and_auprc_against_hand_computations():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 40)
    probabilities = rng.dirichlet(np.ones(4), 40)
    probabilities[np.arange(40), labels] += rng.uniform(0, 0.5, 40)
    probabilities /= probabilities.sum(1, keepdims=True)
    predictions = probabilities.argmax(1)
    kept = labels != 0
    tp = np.sum((predictions == labels) & kept)
    precision, recall = tp / np.sum(predictions != 0), tp / np.sum(kept)
    assert metrics.micro_f1_without(labels, predictions, 4, excluded=0) == pytest.approx(
        2 * precision * recall / (precision + recall))
    areas = []
    for index in range(4):
        positive, score = labels == index, probabilities[:, index]
        points = [(1.0, 0.0)]  # (precision, recall) as the threshold falls through each distinct score
        for threshold in np.sort(np.unique(score))[::-1]:
            chosen = score >= threshold
            points.append((np.sum(chosen & positive) / chosen.sum(), np.sum(chosen & positive) / positive.sum()))
        points = np.array(points)
        areas.append(np.sum(np.diff(points[:, 1]) * (points[1:, 0] + points[:-1, 0]) / 2))
    assert metrics.auprc(labels, probabilities) == pytest.approx(np.mean(areas), abs=1e-12)
    # a class no label has counts 0.5 (scikit-learn's recall of 1 at precision 0, then the (0, 1) end point)
    wider = np.hstack([probabilities, np.full((40, 1), 0.1)])
    assert metrics.auprc(labels, wider) == pytest.approx((np.sum(areas) + 0.5) / 5, abs=1e-12)


def _common_run(first, second):
    """Brute force: the longest substring of `first` that `second` contains."""
    return max([j - i for i in range(len(first)) for j in range(i + 1, len(first) + 1) if first[i:j] in second],
               default=0)


def test_rouge_w_and_exact_match_as_the_klue_paper_defines_them():
    pairs = [("서울특별시 중구", "서울 중구"), ("1990년", "1990년 3월"), ("박민수", "김철수"),
             ("", "부산")]
    for prediction, truth in pairs:
        common = _common_run(prediction, truth)
        expected = 0.0 if common == 0 else 2 * common / (len(prediction) + len(truth))
        assert metrics.rouge_w(prediction, truth) == pytest.approx(expected)
    assert metrics.rouge_w("", "") == 1.0 and metrics.rouge_w("부산", "") == 0.0
    answers = {"a": ["박민수"], "b": [], "c": ["1990년 3월", "3월"], "d": []}
    predictions = {"a": "(박민수)", "b": "", "c": "1990년", "d": "대구"}
    scores = metrics.klue_mrc_scores(answers, predictions)
    rouge_c = max(2 * _common_run("1990년", gold) / (len("1990년") + len(gold)) for gold in ["1990년 3월", "3월"])
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["rouge_w"] == pytest.approx(100 * (1 + 1 + rouge_c + 0) / 4)


# The table ---------------------------------------------------------------------------------------------------

def test_every_klue_task_is_in_the_table_with_fixture_files():
    assert KLUE == ["ynat", "klue-nli", "klue-sts", "klue-ner", "klue-re", "klue-mrc"]
    for name in KLUE:
        task = get_task(name.upper().replace("-", "_"))
        for split in ("train", "dev", "test"):
            assert os.path.exists(task.split_path(os.path.join(FIXTURES, name), split))
        assert re.fullmatch(r"[a-z-]+-v1\.1_(train|dev)\.(json|tsv)", task.splits["train"])


def test_tfds_builders_yield_the_reader_rows(tmp_path):
    import tensorflow_datasets as tfds

    from electra_tf.finetuning import tfds_builders

    assert sorted(tfds_builders.KLUE_BUILDERS) == sorted(KLUE)
    for name in ("klue-sts", "klue-ner"):
        builder = tfds_builders.KLUE_BUILDERS[name](data_dir=str(tmp_path))
        assert builder.name == "klue_" + name[5:]
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=os.path.join(FIXTURES, name)))
        assert sorted(builder.info.splits) == ["train", "validation"]
        rows = sorted(tfds.as_numpy(builder.as_dataset(split="validation")), key=lambda row: row["id"])
        examples = get_task(name).read(os.path.join(FIXTURES, name), "dev").examples
        if name == "klue-sts":
            assert [(r["sentence1"].decode(), float(r["score"])) for r in rows] == [
                (e.text_a, pytest.approx(e.label)) for e in examples]
        else:
            assert [[t.decode() for t in r["tokens"]] for r in rows] == [e.words for e in examples]
            assert [list(r["tags"]) for r in rows] == [e.labels for e in examples]


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["klue-ner", "klue-re", "klue-mrc"])
def test_short_finetune_on_the_fixture(task_name, tmp_path, init_checkpoint):
    """The new families run end to end: dev and test metrics named as declared, predictions for every test row."""
    from electra_tf.finetuning.config import load_hparams
    from electra_tf.finetuning.run import finetune

    task = get_task(task_name)
    config = os.path.join(os.path.dirname(__file__), "..", "configs", "finetune", "tiny.json")
    hparams = load_hparams(config, task_name, {"num_train_epochs": 1, "max_steps_per_epoch": 1})
    results = finetune(task, hparams, init_checkpoint, os.path.join(FIXTURES, task_name), str(tmp_path),
                       progress=False, export=False)
    assert sorted(results["test"]) == sorted(task.metrics)
    assert all(np.isfinite(value) for value in results["test"].values())
    test = task.read(os.path.join(FIXTURES, task_name), "test").examples
    with open(results["predictions_file"], encoding="utf-8") as handle:
        written = handle.read()
    if task_name == "klue-mrc":
        assert sorted(json.loads(written)) == sorted(e.qid for e in test)
    elif task_name == "klue-ner":
        assert _ner_sentences(results["predictions_file"])[0][:2] == (test[0].guid, test[0].words)
    else:
        assert len(written.splitlines()) == len(test) + 1
