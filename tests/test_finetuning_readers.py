"""Readers: each fixture parses exactly; malformed input fails naming the file and line, or is counted."""

import csv
import dataclasses
import json
import os
import shutil

import pytest
from support import fixture_dir

from electra_tf.finetuning.readers import BadRowError, EmptySplitError, MissingLabelsError
from electra_tf.finetuning.tasks import NER_LABELS, Columns, SequenceTask, get_task


def _read(task_name, split, directory=None, **options):
    task = get_task(task_name, **options)
    directory = directory or fixture_dir("generic" if task_name.startswith("text") else task_name)
    task.prepare(directory)
    return task, task.read(directory, split)


def _lines(task, split):
    path = get_task(task).split_path(fixture_dir(task), split)
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_nsmc_reader():
    task, data = _read("nsmc", "train")
    rows = [line.split("\t") for line in _lines("nsmc", "train")[1:]]
    assert len(data.examples) == len(rows) == 80
    for example, (guid, document, label) in zip(data.examples, rows):
        assert (example.guid, example.text_a, example.text_b, example.label) == (guid, document, None, int(label))
    assert data.examples[78].text_a == '"따옴표" 들어간 리뷰도 최고다'  # quotes are text in TSV
    assert data.examples[79].text_a == ""  # an empty review is kept, as in the real file
    assert task.split_path(fixture_dir("nsmc"), "dev").endswith("ratings_test.txt")


def test_kornli_reader():
    task, data = _read("kornli", "train")
    assert task.labels == ["contradiction", "entailment", "neutral"]
    assert len(data.examples) == 25
    first = data.examples[0]
    assert (first.text_a, first.text_b, first.label) == ("한 남자가 공원에서 개와 함께 뛰고 있다.", "남자가 밖에 있다.", 1)
    assert data.examples[1].label == 0 and data.examples[2].label == 2


def test_korsts_reader():
    _, data = _read("korsts", "dev")
    assert len(data.examples) == 8
    assert data.examples[0].label == pytest.approx(4.8)
    assert data.examples[2].text_a == "고양이가 소파 위에서 잔다."
    assert data.examples[2].label == pytest.approx(0.4)


def test_paws_reader_skips_rows_with_an_empty_side():
    _, data = _read("paws", "train")
    assert len(data.examples) == 24
    assert data.skipped == 1
    assert data.examples[2].label == 0 and data.examples[0].label == 1
    assert data.examples[0].guid == "1"


def test_question_pair_reader():
    _, data = _read("question-pair", "test")
    assert [e.label for e in data.examples] == [1, 0, 1, 0, 1, 0]
    assert data.examples[0].text_a == "환불은 어떻게 하나요"


def test_hate_speech_reader_uses_comment_and_hate_columns():
    task, data = _read("hate-speech", "dev")
    assert task.labels == ["none", "offensive", "hate"]
    assert len(data.examples) == 10
    assert data.examples[1].text_a == "얼굴만 믿고 까부는 거 보기 싫다"
    assert [e.label for e in data.examples[:5]] == [0, 1, 0, 1, 2]


def test_naver_ner_reader():
    task, data = _read("naver-ner", "test")
    assert len(task.labels) == 29 and task.labels[0] == "O" and "PER-B" in task.labels
    first = data.examples[0]
    assert first.words == ["김민수", "씨는", "서울", "에서", "태어났다", "."]
    assert [task.labels[i] for i in first.labels] == ["PER-B", "O", "LOC-B", "O", "O", "O"]
    assert len(data.examples) == 12


def test_korquad_reader():
    _, data = _read("korquad", "dev")
    assert [e.qid for e in data.examples] == ["d1", "d2", "d3", "d4", "d5"]
    first = data.examples[0]
    assert first.question == "훈민정음을 반포한 해는?"
    assert [text for text, _ in first.answers] == ["1446년", "1446년에"]
    for example in data.examples:
        for text, start in example.answers:
            assert example.context[start:start + len(text)] == text


def test_generic_csv_collects_labels_and_reads_quoted_fields():
    task, data = _read("text_classification", "train", text_column="sentence", label_column="topic",
                       id_column="id")
    assert task.labels == ["경제", "날씨", "스포츠"]
    assert len(data.examples) == 45
    assert data.examples[0].guid == "train-0"
    assert any(e.text_a == "수출이 증가했다, 역대 최대" for e in data.examples)


def test_generic_label_list_flag_and_unknown_label(tmp_path):
    shutil.copy(os.path.join(fixture_dir("generic"), "train.csv"), tmp_path / "train.csv")
    task, data = _read("text_classification", "train", directory=str(tmp_path), text_column="sentence",
                       label_column="topic", label_list=["스포츠", "경제", "날씨"])
    assert task.labels == ["스포츠", "경제", "날씨"] and data.examples[0].label == 0
    with pytest.raises(BadRowError, match=r"train\.csv:7: unknown label '경제'"):
        _read("text_classification", "train", directory=str(tmp_path), text_column="sentence",
              label_column="topic", label_list=["스포츠", "날씨"])


def test_generic_missing_column_names_the_header(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\n좋다\t1\n", encoding="utf-8")
    with pytest.raises(BadRowError, match=r"train\.tsv:1: header .* lacks column\(s\) \['sentence'\]"):
        _read("text_classification", "train", directory=str(tmp_path), text_column="sentence")


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_wrong_column_count_names_file_and_line(tmp_path):
    _write(tmp_path / "ratings_train.txt", "id\tdocument\tlabel\n1\t좋아요\t1\n2\t두 칸\t짜리\t0\n3\t싫어요\t0\n")
    with pytest.raises(BadRowError, match=r"ratings_train\.txt:3: expected 3 columns, found 4"):
        _read("nsmc", "train", directory=str(tmp_path))
    task, data = _read("nsmc", "train", directory=str(tmp_path), skip_bad_rows=True)
    assert len(data.examples) == 2 and len(data.bad_rows) == 1
    assert data.report()["bad_rows"] == 1


def test_unparsable_score_and_unknown_label(tmp_path):
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
    _write(tmp_path / "sts-train.tsv", header + "g\tf\t2012\t1\t4.0\t가\t나\ng\tf\t2012\t2\t높음\t다\t라\n")
    with pytest.raises(BadRowError, match=r"sts-train\.tsv:3: unparsable score '높음'"):
        _read("korsts", "train", directory=str(tmp_path))
    _write(tmp_path / "xnli.dev.ko.tsv", "sentence1\tsentence2\tgold_label\n가\t나\tentailment\n다\t라\tmaybe\n")
    with pytest.raises(BadRowError, match=r"xnli\.dev\.ko\.tsv:3: unknown label 'maybe'"):
        _read("kornli", "dev", directory=str(tmp_path))


def test_ner_bad_rows(tmp_path):
    _write(tmp_path / "train.tsv", "서울 에\tLOC-B O\n부산 에서 왔다\tLOC-B O\n")
    with pytest.raises(BadRowError, match=r"train\.tsv:2: 3 words but 2 labels"):
        _read("naver-ner", "train", directory=str(tmp_path))
    _write(tmp_path / "train.tsv", "서울 에\tLOC-B O\n부산 에\tCITY-B O\n")
    with pytest.raises(BadRowError, match=r"train\.tsv:2: unknown label 'CITY-B'"):
        _read("naver-ner", "train", directory=str(tmp_path))


def test_korquad_bad_answer_offset(tmp_path):
    _write(tmp_path / "KorQuAD_v1.0_dev.json",
           '{"data": [{"title": "t", "paragraphs": [{"context": "부산은 항구 도시이다.", "qas": ['
           '{"id": "q1", "question": "항구 도시는?", "answers": [{"text": "부산", "answer_start": 0}]},'
           '{"id": "q2", "question": "무엇?", "answers": [{"text": "항구", "answer_start": 0}]}]}]}]}')
    with pytest.raises(BadRowError, match=r"KorQuAD_v1\.0_dev\.json:data\[0\]\.paragraphs\[0\]\.qas\[1\] "
                                          r"\(question id 'q2'\): answer '항구' is not at answer_start 0"):
        _read("korquad", "dev", directory=str(tmp_path))
    _, data = _read("korquad", "dev", directory=str(tmp_path), skip_bad_rows=True)
    assert [e.qid for e in data.examples] == ["q1"] and len(data.bad_rows) == 1


@pytest.mark.parametrize("start", [-12, -1, 11, 40])
def test_korquad_answer_start_outside_the_context(tmp_path, start):
    """Python slicing from -12 finds "부산" in the 12-character context, so a check by slicing alone would
    accept that negative offset; 11 runs past the end of the context."""
    context = "부산은 항구 도시이다."
    assert context[-12:-10] == "부산" and len(context) == 12
    answer = "부산" if start < 0 else "다."
    _write(tmp_path / "KorQuAD_v1.0_dev.json", json.dumps({"data": [{"title": "t", "paragraphs": [{
        "context": context, "qas": [
            {"id": "q1", "question": "항구 도시는?", "answers": [{"text": "부산", "answer_start": 0}]},
            {"id": "q7", "question": "어디?", "answers": [{"text": answer, "answer_start": start}]}]}]}]}))
    with pytest.raises(BadRowError, match=rf"KorQuAD_v1\.0_dev\.json:data\[0\]\.paragraphs\[0\]\.qas\[1\] "
                                          rf"\(question id 'q7'\): answer '{answer}' at answer_start {start} is "
                                          r"not within the 12-character context"):
        _read("korquad", "dev", directory=str(tmp_path))
    _, data = _read("korquad", "dev", directory=str(tmp_path), skip_bad_rows=True)
    assert [e.qid for e in data.examples] == ["q1"] and len(data.bad_rows) == 1


def test_line_numbers_count_only_newlines(tmp_path):
    """U+2028, U+0085, \\x0b, \\x0c and \\x1c-\\x1e inside a field keep the row whole (str.splitlines would break
    it), so the next bad row's line number is the one an editor shows."""
    odd = "좋\u2028아\u0085요\x0b정\x0c말\x1c최\x1d고\x1e다\u2029!"
    _write(tmp_path / "ratings_train.txt", f"id\tdocument\tlabel\r\n1\t{odd}\t1\r\n2\t싫어요\t7\n3\t보통\t0\n")
    with pytest.raises(BadRowError, match=r"ratings_train\.txt:3: unknown label '7'"):
        _read("nsmc", "train", directory=str(tmp_path))
    _, data = _read("nsmc", "train", directory=str(tmp_path), skip_bad_rows=True)
    assert [(e.guid, e.text_a, e.label) for e in data.examples] == [("1", odd, 1), ("3", "보통", 0)]
    _write(tmp_path / "train.csv", f'text,label\n"{odd}",a\n"둘\n째 줄",b\n셋,b,c\n')
    with pytest.raises(BadRowError, match=r"train\.csv:5: expected 2 columns, found 3"):
        _read("text_classification", "train", directory=str(tmp_path))
    _, data = _read("text_classification", "train", directory=str(tmp_path), skip_bad_rows=True)
    assert [e.text_a for e in data.examples] == [odd, "둘\n째 줄"]


def test_unlabeled_dev_file_is_an_error(tmp_path):
    source = fixture_dir("generic")
    shutil.copy(os.path.join(source, "train.csv"), tmp_path / "train.csv")
    with open(os.path.join(source, "dev.csv"), encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with open(tmp_path / "dev.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row[:2] for row in rows])  # id, sentence: no topic column
    options = dict(text_column="sentence", label_column="topic", id_column="id")
    with pytest.raises(MissingLabelsError, match=r"dev\.csv: the dev split of task text_classification has no "
                                                 r"label column 'topic'; it selects the best epoch and needs labels"):
        _read("text_classification", "dev", directory=str(tmp_path), **options)
    os.rename(tmp_path / "dev.csv", tmp_path / "test.csv")  # no dev file: the test file selects, same rule
    with pytest.raises(MissingLabelsError, match=r"test\.csv: the dev split"):
        _read("text_classification", "dev", directory=str(tmp_path), **options)
    _, data = _read("text_classification", "test", directory=str(tmp_path), **options)
    assert len(data.examples) == len(rows) - 1 and all(e.label is None for e in data.examples)

    with open(os.path.join(fixture_dir("korquad"), "KorQuAD_v1.0_dev.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    document["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    qid = document["data"][0]["paragraphs"][0]["qas"][0]["id"]
    _write(tmp_path / "korquad" / "KorQuAD_v1.0_dev.json", json.dumps(document, ensure_ascii=False))
    with pytest.raises(MissingLabelsError, match=rf"KorQuAD_v1\.0_dev\.json: the dev split of task korquad has 1 "
                                                 rf"question\(s\) without answers \(first: '{qid}'\)"):
        _read("korquad", "dev", directory=str(tmp_path / "korquad"))


def test_empty_split_and_missing_file(tmp_path):
    _write(tmp_path / "ratings_train.txt", "id\tdocument\tlabel\n")
    with pytest.raises(EmptySplitError, match=r"ratings_train\.txt: the train split of task nsmc has no usable"):
        _read("nsmc", "train", directory=str(tmp_path))
    _write(tmp_path / "ratings_train.txt", "")
    with pytest.raises(EmptySplitError, match="ratings_train.txt is empty"):
        _read("nsmc", "train", directory=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"test file of task nsmc: .*ratings_test\.txt"):
        _read("nsmc", "test", directory=str(tmp_path))


def test_task_names_and_aliases():
    assert get_task("naver_ner").name == "naver-ner"
    assert get_task("PAWS-X").name == "paws"
    assert get_task("text-pair-classification", text_pair_column="b").name == "text_pair_classification"
    with pytest.raises(ValueError, match="Unknown task"):
        get_task("squad2")
    with pytest.raises(ValueError, match="text_pair_column"):
        get_task("text_pair_classification")
    assert set(NER_LABELS) >= {"O", "TRM-I", "DAT-B"}


def test_headerless_file_declared_by_column_index(tmp_path):
    """A GLUE-CoLA-like file (no header; source, label, original label, sentence) needs only a declaration."""
    cola = SequenceTask("cola", {"train": "train.tsv", "dev": "dev.tsv", "test": None}, ("accuracy",), ["0", "1"],
                        columns=Columns(text=3, label=1, id=0), has_header=False)
    _write(tmp_path / "train.tsv", "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n"
                                   "gj04\t0\t*\tThe more we study verbs, the crazier they get get.\n\n"
                                   "gj04\t1\n"
                                   "cj99\t1\t\tThey drank the pub dry.\n")
    with pytest.raises(BadRowError, match=r"train\.tsv:4: expected at least 4 columns, found 2"):
        cola.read(str(tmp_path), "train")
    data = dataclasses.replace(cola, skip_bad_rows=True).read(str(tmp_path), "train")
    assert [(e.guid, e.text_a, e.label) for e in data.examples] == [
        ("gj04", "The sailors rode the breeze clear of the rocks.", 1),
        ("gj04", "The more we study verbs, the crazier they get get.", 0), ("cj99", "They drank the pub dry.", 1)]
    assert len(data.bad_rows) == 1 and cola.head_type == "sequence_classification" and cola.metric == "accuracy"


def test_alternative_column_names_and_unreadable_csv_row(tmp_path):
    _write(tmp_path / "val.tsv", "comments\tcontain_gender_bias\tbias\thate\n좋은 말\tFalse\tnone\tnone\n")
    _, data = _read("hate-speech", "dev", directory=str(tmp_path))
    assert [(e.text_a, e.label) for e in data.examples] == [("좋은 말", 0)]
    _write(tmp_path / "val.tsv", "text\thate\n좋은 말\tnone\n")
    with pytest.raises(BadRowError, match=r"val\.tsv:1: header .* needs one of the columns \['comment', 'comments'\]"):
        _read("hate-speech", "dev", directory=str(tmp_path))
    _write(tmp_path / "train.csv", "text,label\n가,a\n나\r다,b\n라,b\n")  # a bare CR in an unquoted CSV field
    with pytest.raises(BadRowError, match=r"train\.csv:3: unreadable CSV row"):
        _read("text_classification", "train", directory=str(tmp_path))
    _, data = _read("text_classification", "train", directory=str(tmp_path), skip_bad_rows=True)
    assert [e.text_a for e in data.examples] == ["가", "라"]
