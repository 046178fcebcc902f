"""SavedModels for TF Serving: versions, signatures, a fresh process with only TensorFlow + tensorflow-text,
and raw-text outputs equal to the token-id path."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import randomize_weights

from electra_tf.config import ElectraConfig
from electra_tf.models import build_model
from electra_tf.serving import ServingModule, export_saved_model, next_version
from electra_tf.tokenization import MODEL_INPUT_NAMES, FastTokenizer, load_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
LOADER = os.path.join(ROOT, "tests", "scripts", "load_saved_model.py")
MAX_LENGTH = 24
TEXTS = ["배우들 연기가 정말 훌륭했어요!", "김철수 씨는 2024년에 서울로 이사했다.", "ㅋㅋ 이건 좀 별로네요 😅"]
PAIRS = ["누가 서울로 이사했나?", "김철수 씨는 2024년에 서울로 이사했다. 그는 학생이다.", "별로"]
LABELS = {"sequence_classification": ["부정", "긍정"], "token_classification": ["O", "PER-B", "PER-I", "LOC-B"],
          "regression": ["similarity"]}
BUCKET = 16  # export_saved_model's default bucket_width


@pytest.fixture(scope="module")
def tokenizer():
    return FastTokenizer.from_vocab_file(VOCAB)


def _model(head):
    config = ElectraConfig.from_preset("tiny", vocab_size=len(load_vocab(VOCAB)), max_position_embeddings=64)
    if head in LABELS:
        config = config.with_labels(LABELS[head])
    head_type = "sequence_classification" if head == "regression" else head  # one label: a regression
    return randomize_weights(build_model(config, head_type), seed=len(head))


def _bucket(ids, max_length):
    """The width a bucketed request should get: its longest row rounded up to BUCKET, at most max_length."""
    longest = int(np.asarray(ids["attention_mask"]).sum(axis=1).max())
    return min(-(-longest // BUCKET) * BUCKET, max_length)


def _columns(value, width):
    """The first `width` positions of a per-token output; per-request outputs unchanged."""
    return value[:, :width] if value.ndim >= 2 and value.shape[1] > width else value


def _fresh_process_outputs(saved_model_dir, tokenizer, tmp_path):
    ids = tokenizer.encode_batch_for_model(TEXTS, max_length=MAX_LENGTH)
    inputs = {**{name: np.asarray(value, np.int32) for name, value in ids.items()},
              "text": np.array(TEXTS), "pair": np.array(PAIRS)}
    np.savez(tmp_path / "inputs.npz", **inputs)
    result = subprocess.run([sys.executable, LOADER, saved_model_dir, str(tmp_path / "inputs.npz"),
                             str(tmp_path / "outputs.npz")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return ids, dict(np.load(tmp_path / "outputs.npz", allow_pickle=True))  # our own file: string outputs


@pytest.mark.slow
@pytest.mark.parametrize("head", ["sequence_classification", "token_classification", "question_answering",
                                  "encoder"])
def test_saved_model_in_a_fresh_process_matches_keras(head, tokenizer, tmp_path):
    model = _model(head)
    path = export_saved_model(model, str(tmp_path / head), VOCAB, max_length=MAX_LENGTH)
    assert path.endswith(os.path.join(head, "1"))
    ids, outputs = _fresh_process_outputs(path, tokenizer, tmp_path)
    expected = model({name: np.asarray(value, np.int32) for name, value in ids.items()})
    width = _bucket(ids, MAX_LENGTH)  # raw-text requests are padded to their bucket: 16 here
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[f"ids/{name}"], value, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(outputs[f"text/{name}"], _columns(np.asarray(value), width), atol=1e-5,
                                   err_msg=f"raw text {name}")
    for name in MODEL_INPUT_NAMES:  # in-graph tokenization = fast tokenizer
        np.testing.assert_array_equal(outputs[f"text/{name}"], ids[name][:, :width])
    pair_ids = tokenizer.encode_batch_for_model(TEXTS, PAIRS, max_length=MAX_LENGTH)  # one row truncated: 24
    np.testing.assert_array_equal(outputs["pair/input_ids"], pair_ids["input_ids"])
    np.testing.assert_array_equal(outputs["pair/token_type_ids"], pair_ids["token_type_ids"])

    if head == "sequence_classification":
        probabilities = outputs["text/probabilities"]
        labels = [LABELS[head][i] for i in probabilities.argmax(-1)]
        assert [label.decode() for label in outputs["text/label"]] == labels
        np.testing.assert_allclose(outputs["text/score"], probabilities.max(-1), atol=1e-6)
    if head == "token_classification":
        _check_word_tags(outputs, tokenizer)
    if head == "question_answering":
        _check_answers(outputs, tokenizer)


def _check_word_tags(outputs, tokenizer):
    """Each word's tag is the label predicted on its first sub-token."""
    for row, text in enumerate(TEXTS):
        words = [word.decode() for word in outputs["text/words"][row] if word]
        position = 1  # after [CLS]
        for column, word in enumerate(words):
            expected = LABELS["token_classification"][outputs["text/label_ids"][row][position]]
            assert outputs["text/tags"][row][column].decode() == expected, (text, word)
            position += len(tokenizer.encode(word))


def _check_answers(outputs, tokenizer):
    """The answer is the best valid span by brute force: the context's words that hold those tokens."""
    for row, context in enumerate(PAIRS):
        start, end = outputs["pair/start_logits"][row], outputs["pair/end_logits"][row]
        types, mask = outputs["pair/token_type_ids"][row], outputs["pair/attention_mask"][row]
        ids = outputs["pair/input_ids"][row]
        allowed = [i for i in range(len(ids)) if types[i] == 1 and mask[i] == 1 and ids[i] != 3]
        best = max((start[i] + end[j], i, j) for i in allowed for j in allowed if 0 <= j - i < 30)
        np.testing.assert_allclose(outputs["pair/score"][row], best[0], atol=1e-5)
        answer = outputs["pair/answer"][row].decode()
        assert answer and answer in context, (answer, context)
        begin, finish = outputs["pair/answer_start"][row], outputs["pair/answer_end"][row]
        assert context.encode()[begin:finish].decode() == answer
        pieces = tokenizer.convert_ids_to_tokens([int(i) for i in ids[best[1]:best[2] + 1]])
        span = "".join(piece.removeprefix("##") for piece in pieces)
        words = answer.split()
        assert span in answer.replace(" ", ""), (span, answer)
        assert pieces[0].removeprefix("##") in words[0] and pieces[-1].removeprefix("##") in words[-1]


@pytest.mark.slow
def test_versions_never_clobber_and_cli_lists_signatures(tmp_path):
    model = _model("sequence_classification")
    base = str(tmp_path / "nsmc")
    first = export_saved_model(model, base, VOCAB, max_length=MAX_LENGTH)
    marker = os.path.join(first, "saved_model.pb")
    before = open(marker, "rb").read()
    second = export_saved_model(model, base, VOCAB, max_length=MAX_LENGTH)
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")
    assert open(marker, "rb").read() == before and next_version(base) == 3
    with pytest.raises(Exception):
        export_saved_model(model, base, str(tmp_path / "missing_vocab.txt"))
    assert sorted(os.listdir(base)) == ["1", "2"]  # the failed export left nothing behind
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no earlier SavedModel version"):
        export_saved_model(model, str(tmp_path / "other"), VOCAB)
    assert os.listdir(tmp_path / "other") == ["keep.txt"]
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", second, "--all"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for signature in ("serving_default", "predict_text", "predict_text_pair"):
        assert f"signature_def['{signature}']" in shown.stdout
    assert "DT_INT32" in shown.stdout and "DT_STRING" in shown.stdout


@pytest.mark.slow
def test_export_and_serving_command_lines(tmp_path):
    from electra_tf.export import export_transformers

    model = _model("sequence_classification")
    export_transformers(model, str(tmp_path / "model"), vocab_file=VOCAB)
    base = tmp_path / "serving"
    exported = subprocess.run([sys.executable, "-m", "electra_tf.export", f"--input={tmp_path / 'model'}",
                               f"--output_dir={base}", "--format=saved_model"], capture_output=True, text=True,
                              timeout=300)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (base / "1" / "saved_model.pb").exists()
    served = subprocess.run([sys.executable, "-m", "electra_tf.serving", f"--saved_model_dir={base}",
                             f"--text={TEXTS[0]}", f"--output={tmp_path / 'out.txt'}"], capture_output=True,
                            text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    printed = (tmp_path / "out.txt").read_text(encoding="utf-8")
    assert printed.startswith(TEXTS[0]) and ("'label': '부정'" in printed or "'label': '긍정'" in printed)


BUCKET_MAX_LENGTH = 40
LONG_TEXT = " ".join(TEXTS + PAIRS)  # more than 40 tokens: truncated
SINGLE_BATCHES = {"short": TEXTS + [PAIRS[1]], "truncated": TEXTS + [LONG_TEXT]}
PAIR_BATCHES = {"short": ([TEXTS[0], TEXTS[2]], [PAIRS[0], PAIRS[2]]),
                "truncated": (TEXTS + [LONG_TEXT], PAIRS + [LONG_TEXT])}
TOKEN_HEADS = {"token_classification": {"logits", "probabilities", "label_ids"}}
PER_TOKEN = {*MODEL_INPUT_NAMES, "last_hidden_state", "start_logits", "end_logits"}
SIGNATURES = {"sequence_classification": ("predict_text", "predict_text_pair"), "regression": ("predict_text_pair",),
              "token_classification": ("predict_text",), "question_answering": ("predict_text_pair",),
              "encoder": ("predict_text",)}  # each head's uses (tracing is this test's cost)


@pytest.mark.parametrize("head", ["sequence_classification", "regression", "token_classification",
                                  "question_answering", "encoder"])
def test_raw_text_requests_are_padded_to_their_bucket_with_the_same_outputs(head, tokenizer):
    """predict_text(_pair) at the request's bucket width gives what max_length padding gives (the module with
    bucket_width=max_length, i.e. the behaviour before buckets): per-request outputs equal, per-token outputs
    equal on the first `width` positions, where `width` is the longest row rounded up to 16."""
    model = _model(head)
    bucketed = ServingModule(model, VOCAB, BUCKET_MAX_LENGTH)
    padded = ServingModule(model, VOCAB, BUCKET_MAX_LENGTH, bucket_width=BUCKET_MAX_LENGTH)
    per_token = PER_TOKEN | TOKEN_HEADS.get(head, set())
    requests = [("predict_text", {"text": texts}, (texts,)) for texts in SINGLE_BATCHES.values()]
    requests += [("predict_text_pair", {"text": first, "text_pair": second}, (first, second))
                 for first, second in PAIR_BATCHES.values()]
    requests = [request for request in requests if request[0] in SIGNATURES[head]]
    widths = []
    for signature, request, texts in requests:
        ids = tokenizer.encode_batch_for_model(*texts, max_length=BUCKET_MAX_LENGTH)
        width = _bucket(ids, BUCKET_MAX_LENGTH)
        widths.append(width)
        got = {name: value.numpy() for name, value in getattr(bucketed, signature)(**request).items()}
        want = {name: value.numpy() for name, value in getattr(padded, signature)(**request).items()}
        assert sorted(got) == sorted(want)
        for name in MODEL_INPUT_NAMES:  # the fast tokenizer's ids, cut to the bucket; only padding cut off
            np.testing.assert_array_equal(got[name], ids[name][:, :width], err_msg=(signature, name))
        assert not ids["attention_mask"][:, width:].any()
        for name, value in want.items():
            if name in per_token:
                assert got[name].shape[1] == width, (signature, name, got[name].shape)
                value = value[:, :width]
            if value.dtype.kind in "OSU" or value.dtype.kind in "iu":  # labels, words, tags, answers, ids
                np.testing.assert_array_equal(got[name], value, err_msg=(signature, name))
            else:
                np.testing.assert_allclose(got[name], value, atol=1e-5, err_msg=(signature, name))
    assert widths == [32, BUCKET_MAX_LENGTH] * len(SIGNATURES[head])  # mixed lengths; one row truncated


def test_bucket_width_is_checked_and_capped(tmp_path):
    model = _model("encoder")
    with pytest.raises(ValueError, match="bucket_width"):
        export_saved_model(model, str(tmp_path / "bad"), VOCAB, max_length=MAX_LENGTH, bucket_width=0)
    assert not (tmp_path / "bad").exists()
    module = ServingModule(model, VOCAB, MAX_LENGTH, bucket_width=1000)
    assert module.bucket_width == MAX_LENGTH
    assert module.predict_text(text=TEXTS[:1])["input_ids"].shape == (1, MAX_LENGTH)
