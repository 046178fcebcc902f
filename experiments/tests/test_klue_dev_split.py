"""The dev-file split of `klue_dev_split`: every record on exactly one side, grouped records together."""

import json
import os
import shutil

from electra_tf.finetuning.tasks import get_task
from experiments.klue_dev_split import write_split

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "klue")


def test_nli_split_keeps_each_premise_on_one_side(tmp_path):
    records = []
    for split in ("train", "dev"):
        with open(os.path.join(FIXTURES, "klue-nli", f"klue-nli-v1.1_{split}.json"), encoding="utf-8") as handle:
            records += json.load(handle)
    dev_file = tmp_path / "all.json"
    dev_file.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    task = get_task("klue-nli")
    sizes = write_split(task, str(dev_file), str(tmp_path / "data"), group_by="premise")
    parts = [task.read(str(tmp_path / "data"), split).examples for split in ("train", "dev")]
    assert sizes == [len(part) for part in parts] and sum(sizes) == len(records)
    assert sorted(e.guid for part in parts for e in part) == sorted(r["guid"] for r in records)
    assert not {e.text_a for e in parts[0]} & {e.text_a for e in parts[1]}


def test_ner_split_keeps_every_sentence(tmp_path):
    source = os.path.join(FIXTURES, "klue-ner", "klue-ner-v1.1_train.tsv")
    task = get_task("klue-ner")
    shutil.copy(source, tmp_path / "dev.tsv")
    write_split(task, str(tmp_path / "dev.tsv"), str(tmp_path / "data"), fraction=0.5)
    split = [e for name in ("train", "dev") for e in task.read(str(tmp_path / "data"), name).examples]
    original = task.read(os.path.dirname(source), "train").examples
    assert sorted((e.guid, "".join(e.words), tuple(e.labels)) for e in split) == sorted(
        (e.guid, "".join(e.words), tuple(e.labels)) for e in original)
