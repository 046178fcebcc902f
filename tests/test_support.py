"""The session fixtures of conftest.py: the fine-tuning vocab covers the fixture text, the tiny discriminator is
a complete transformers directory, and a shared directory is built once and rebuilt after a failed build."""

import json
import os

import pytest
import support

from electra_tf.tokenization import FastTokenizer


def test_finetune_vocab_covers_fixture_text(finetune_vocab, init_checkpoint):
    tokenizer = FastTokenizer.from_vocab_file(finetune_vocab)
    ids = tokenizer.encode("세종대왕은 조선의 제4대 왕으로 1418년에 즉위하였다.")
    assert tokenizer.unk_id not in ids
    config = json.load(open(os.path.join(init_checkpoint, "config.json"), encoding="utf-8"))
    assert config["vocab_size"] == len(open(finetune_vocab, encoding="utf-8").read().splitlines())
    assert os.path.exists(os.path.join(init_checkpoint, "vocab.txt"))


def test_pretraining_shards_hold_the_sample_corpus(pretraining_shards):
    stats = json.load(open(os.path.join(pretraining_shards, "stats.json"), encoding="utf-8"))
    assert stats["max_seq_length"] == 64 and stats["examples"] > 0


def test_shared_directory_builds_once_and_again_after_a_failed_build(tmp_path_factory):
    calls = []

    def build(directory):
        calls.append(directory)
        if len(calls) == 1:
            open(os.path.join(directory, "half"), "w").close()
            raise OSError("killed mid-build")
        open(os.path.join(directory, "done"), "w").close()
        return os.path.join(directory, "done")

    with pytest.raises(OSError, match="killed mid-build"):
        support.shared_directory(tmp_path_factory, "once", build)
    path = support.shared_directory(tmp_path_factory, "once", build)
    assert support.shared_directory(tmp_path_factory, "once", build) == path
    assert len(calls) == 2 and os.path.exists(path)
    assert not os.path.exists(os.path.join(os.path.dirname(path), "half"))
