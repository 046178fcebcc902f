"""SavedModels for TF Serving, with raw-text signatures; CLI `python -m electra_tf.serving` runs one.

`export_saved_model` writes `<base>/<version>/` (1 for a new base, else the next number; written under a
temporary name and renamed, so no version is ever clobbered) with the signatures:

- `serving_default`: int32 `input_ids`, `attention_mask`, `token_type_ids` [batch, seq] → the head's outputs
  (`logits`, `probabilities`, `label_ids`; `last_hidden_state` for the encoder; `start_logits`/`end_logits`).
- `predict_text`: UTF-8 strings `text` [batch] → tokenized in the graph with tensorflow-text (the ids of
  `electra_tf.tokenization`) → the outputs above plus `label`/`score` (classification), `words`/`tags`
  (token classification: the tag of each word's first sub-token).
- `predict_text_pair`: `text`, `text_pair` → the same for two segments; for question answering `text` is the
  question and `text_pair` the context, and the outputs are `answer` (the context substring), `score` and
  the answer's byte offsets `answer_start`/`answer_end` in the NFC context (one window: longer contexts are
  truncated).

A sequence classifier exported with windows (fine-tuning's `long_text: windows`) splits each text of the
raw-text signatures that is longer than `max_length` into windows (`tokenization.pairs.window_plan`) and pools
their logits (mean or max); its outputs are then the pooled head outputs and `num_windows`, without the ids.

The raw-text signatures pad a request only to its longest row rounded up to a multiple of `bucket_width`
(default 16, at most `max_length`; `bucket_width=max_length` pads every request to `max_length`): real texts are
short, and padding is wasted work. Per-request outputs (`logits` of a classifier, `label`, `score`, QA `answer`
and offsets) are those of `max_length` padding; per-token outputs (`last_hidden_state`, token-classification
`logits`/`probabilities`/`label_ids`, QA `start_logits`/`end_logits`) and the returned `input_ids`,
`attention_mask`, `token_type_ids` are [batch, width] with that request's width, equal to the first `width`
columns of `max_length` padding. `serving_default` keeps the width of the ids it is given.

The SavedModel needs only `tensorflow` and `tensorflow_text` to load (TF Serving links tensorflow-text's ops).
"""

import os

import keras
import tensorflow as tf
from absl import flags

from electra_tf import cli, io_utils
from electra_tf.tokenization import DEFAULT_BUCKET_WIDTH, in_graph_tokenizer

MAX_ANSWER_TOKENS = 30


def _int_spec(name):
    return tf.TensorSpec([None, None], tf.int32, name=name)


class _Heads:
    """Turns a model's raw outputs into serving outputs, by head type."""

    def __init__(self, model):
        self.model = model
        self.head_type = model.head_type
        labels = model.config.id2label or {}
        self.label_names = tf.constant([labels.get(i, str(i)) for i in range(model.config.num_labels)])

    def from_ids(self, inputs):
        return self.from_outputs(dict(self.model(inputs, training=False)))

    def from_outputs(self, outputs):
        """The model's outputs plus what serving derives from them (probabilities, label ids, score)."""
        if self.head_type == "sequence_classification":
            logits = outputs["logits"]
            if self.model.config.num_labels == 1:
                outputs["score"] = logits[:, 0]
            else:
                outputs["probabilities"] = tf.nn.softmax(logits, axis=-1)
                outputs["label_ids"] = tf.argmax(logits, axis=-1, output_type=tf.int32)
        elif self.head_type == "token_classification":
            outputs["probabilities"] = tf.nn.softmax(outputs["logits"], axis=-1)
            outputs["label_ids"] = tf.argmax(outputs["logits"], axis=-1, output_type=tf.int32)
        elif self.head_type == "discriminator":
            outputs["probabilities"] = tf.sigmoid(outputs["logits"])
        return outputs

    def label_outputs(self, outputs):
        if "label_ids" in outputs and self.head_type == "sequence_classification":
            outputs["label"] = tf.gather(self.label_names, outputs["label_ids"])
            outputs["score"] = tf.reduce_max(outputs["probabilities"], axis=-1)
        return outputs


def _word_tags(tokenizer, heads, outputs, words, pieces):
    """Tag of each word's first sub-token ([CLS] shifts by one); words cut off by truncation get ''."""
    piece_counts = tf.cast(pieces.row_lengths(axis=2).to_tensor(), tf.int32)  # [batch, words]
    first_piece = tf.cumsum(piece_counts, axis=1, exclusive=True) + 1
    is_word = tf.sequence_mask(words.row_lengths(), tf.shape(piece_counts)[1])
    kept = is_word & (first_piece < tokenizer.max_length - 1)
    last_column = tf.shape(outputs["label_ids"])[1] - 1
    label_ids = tf.gather(outputs["label_ids"], tf.minimum(first_piece, last_column), batch_dims=1)
    return tf.where(kept, tf.gather(heads.label_names, label_ids), tf.constant(""))


def _best_answer(tokenizer, outputs, inputs, context_words, context_pieces):
    """Best span inside the context (end ≥ start, at most MAX_ANSWER_TOKENS) → byte offsets and score."""
    start, end = outputs["start_logits"], outputs["end_logits"]
    length = tf.shape(start)[1]
    in_context = tf.cast(inputs["token_type_ids"], tf.bool) & tf.cast(inputs["attention_mask"], tf.bool)
    in_context &= tf.not_equal(inputs["input_ids"], tokenizer.sep_id)
    scores = start[:, :, None] + end[:, None, :]
    offsets = tf.range(length)[None, :] - tf.range(length)[:, None]  # end − start
    valid = (offsets >= 0) & (offsets < MAX_ANSWER_TOKENS)
    valid = valid[None] & in_context[:, :, None] & in_context[:, None, :]
    scores = tf.where(valid, scores, -1e9)
    flat = tf.argmax(tf.reshape(scores, [tf.shape(start)[0], -1]), axis=1, output_type=tf.int32)
    start_token, end_token = flat // length, flat % length
    score = tf.reduce_max(tf.reshape(scores, [tf.shape(start)[0], -1]), axis=1)
    # token position → context word: context tokens start after [CLS] question [SEP]
    question_kept = tf.reduce_sum((1 - inputs["token_type_ids"]) * inputs["attention_mask"], axis=1) - 2
    piece_counts = tf.cast(context_pieces.row_lengths(axis=2).to_tensor(), tf.int32)
    word_ends = tf.cumsum(piece_counts, axis=1)  # exclusive end (in context pieces) of each word

    def word_of(token):
        piece = token - question_kept - 2
        return tf.reduce_sum(tf.cast(word_ends <= piece[:, None], tf.int32), axis=1)

    begins, ends = context_words
    first, last = word_of(start_token), word_of(end_token)
    answer_start = tf.gather(begins.to_tensor(), first, batch_dims=1)
    answer_end = tf.gather(ends.to_tensor(), last, batch_dims=1)
    return answer_start, answer_end, score


class ServingModule(tf.Module):
    """The model plus its in-graph tokenizer, with the signatures described in the module docstring."""

    def __init__(self, model, vocab_file, max_length=128, bucket_width=DEFAULT_BUCKET_WIDTH, windows=None):
        super().__init__()
        if int(bucket_width) < 1:
            raise ValueError(f"bucket_width must be a positive number of tokens, got {bucket_width}")
        if windows is not None and model.head_type != "sequence_classification":
            raise ValueError("windows are for sequence classification and regression models only")
        self.windows = windows  # (stride, "mean" | "max") or None
        model.electra.skip_padding = True  # no XLA here; heads that read positions skip the padding's work
        self.model = model
        self.tokenizer = in_graph_tokenizer(vocab_file, max_length=max_length)
        self.bucket_width = min(int(bucket_width), self.tokenizer.max_length)
        self._heads = _Heads(model)

    @tf.function(input_signature=[_int_spec("input_ids"), _int_spec("attention_mask"),
                                  _int_spec("token_type_ids")])
    def serve(self, input_ids, attention_mask, token_type_ids):
        return self._heads.from_ids(
            {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids})

    def _windowed(self, ids_a, ids_b=None):
        """Sequence classification over windows: each text's logits pooled over its windows."""
        stride, pooling = self.windows
        inputs, rows = self.tokenizer.build_window_inputs(ids_a, ids_b, stride, self.bucket_width)
        logits = self.model(inputs, training=False)["logits"]
        pooled = tf.math.segment_max(logits, rows) if pooling == "max" else tf.math.segment_mean(logits, rows)
        outputs = self._heads.label_outputs(self._heads.from_outputs({"logits": pooled}))
        return {**outputs, "num_windows": tf.cast(tf.math.bincount(tf.cast(rows, tf.int32)), tf.int32)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def predict_text(self, text):
        words, _, _, pieces = self.tokenizer.word_pieces(text)
        if self.windows:
            return self._windowed(pieces.merge_dims(1, 2))
        inputs = self.tokenizer.build_model_inputs(pieces.merge_dims(1, 2), bucket_width=self.bucket_width)
        outputs = self._heads.label_outputs(self._heads.from_ids(inputs))
        if self._heads.head_type == "token_classification":
            outputs["words"] = words.to_tensor("")
            outputs["tags"] = _word_tags(self.tokenizer, self._heads, outputs, words, pieces)
        return {**outputs, **inputs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.string, name="text_pair")])
    def predict_text_pair(self, text, text_pair):
        _, _, _, pieces_a = self.tokenizer.word_pieces(text)
        _, begins, ends, pieces_b = self.tokenizer.word_pieces(text_pair)
        if self.windows:
            return self._windowed(pieces_a.merge_dims(1, 2), pieces_b.merge_dims(1, 2))
        inputs = self.tokenizer.build_model_inputs(pieces_a.merge_dims(1, 2), pieces_b.merge_dims(1, 2),
                                                   bucket_width=self.bucket_width)
        outputs = self._heads.label_outputs(self._heads.from_ids(inputs))
        if self._heads.head_type == "question_answering":
            start, end, score = _best_answer(self.tokenizer, outputs, inputs, (begins, ends), pieces_b)
            context = self.tokenizer.normalize(text_pair)
            outputs.update(answer=tf.strings.substr(context, start, end - start), score=score,
                           answer_start=start, answer_end=end)
        return {**outputs, **inputs}

    def signatures(self):
        return {"serving_default": self.serve, "predict_text": self.predict_text,
                "predict_text_pair": self.predict_text_pair}


def _versions(base_dir):
    return [int(name.rstrip("/")) for name in tf.io.gfile.listdir(base_dir) if name.rstrip("/").isdigit()]


def next_version(base_dir):
    """1 for a new base directory, else one more than the largest numeric version in it."""
    if not tf.io.gfile.isdir(base_dir):
        return 1
    return max(_versions(base_dir), default=0) + 1


def export_saved_model(model, base_dir, vocab_file, max_length=None, bucket_width=DEFAULT_BUCKET_WIDTH,
                       windows=None):
    """Writes `model` with its tokenizer as `base_dir/<next version>/`; returns that directory. An existing
    `base_dir` must be empty or hold versions already (nothing in it is removed). `windows`: (stride, pooling)
    for a classifier whose long texts are windows (see `ServingModule`)."""
    io_utils.check_replaceable(base_dir, _versions, "SavedModel version (a numbered directory)")
    max_length = max_length or min(512, model.config.max_position_embeddings)
    module = ServingModule(model, vocab_file, max_length, bucket_width, windows)
    version_dir = os.path.join(base_dir, str(next_version(base_dir)))
    with io_utils.atomic_directory(version_dir) as directory:
        tf.saved_model.save(module, directory, signatures=module.signatures())
    return version_dir


FLAGS = flags.FLAGS


def _plain(value):
    """numpy output → printable Python value (strings decoded, scalars rounded)."""
    if isinstance(value, bytes):
        return value.decode()
    if getattr(value, "ndim", 0):
        return [_plain(item) for item in value]
    return round(value.item(), 4) if hasattr(value, "item") else value


def latest_version(path):
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    version = next_version(path) - 1
    if version < 1:
        raise FileNotFoundError(f"No SavedModel in {path}")
    return os.path.join(path, str(version))


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("saved_model_dir", None, "A SavedModel, or a base directory of numbered versions.")
    flags.DEFINE_multi_string("text", None, "Text to send to predict_text (repeatable).")
    flags.DEFINE_string("text_pair", None, "Second segment (context for QA): uses predict_text_pair.")
    flags.DEFINE_string("output", None, "Also write the printed result here.")


def main(argv):
    del argv
    import tensorflow_text  # noqa: F401  (registers the ops the SavedModel uses)

    path = latest_version(FLAGS.saved_model_dir)
    loaded = tf.saved_model.load(path)
    texts = tf.constant(FLAGS.text)
    if FLAGS.text_pair is None:
        outputs = loaded.signatures["predict_text"](text=texts)
    else:
        pairs = tf.constant([FLAGS.text_pair] * len(FLAGS.text))
        outputs = loaded.signatures["predict_text_pair"](text=texts, text_pair=pairs)
    lines = []
    for index, text in enumerate(FLAGS.text):
        shown = {name: outputs[name][index].numpy() for name in ("label", "score", "answer", "tags", "words")
                 if name in outputs}
        shown = {name: _plain(value) for name, value in shown.items()}
        lines.append(f"{text} → {shown}")
    io_utils.report("\n".join(lines), FLAGS.output)


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["saved_model_dir", "text"])
    keras.config.disable_interactive_logging()
    cli.run(main)
