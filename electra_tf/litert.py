"""LiteRT export: a ``.tflite`` model that takes raw text (a batch of strings; one string is a batch of one) and
returns its classification head's outputs, with the tokenizer inside, for phones and other devices.

Outputs: ``label_ids`` (int32 ``[batch]``) and ``probabilities`` (float32 ``[batch, labels]``), or ``score``
(float32 ``[batch]``) for a regression head. Ids are padded to `max_length`. The tokenizer uses only ops LiteRT
runs with `tensorflow-text`'s custom-op registrar (`tokenization.lite_tokenizer`): FastBertNormalizer +
FastWordpieceTokenizer for WordPiece, FastSentencepieceTokenizer for SentencePiece unigram models.
``dynamic_int8`` stores the weights as int8 (dynamic-range quantization).
"""

import os

import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.tokenization import lite_tokenizer

MODEL_FILE = "model.tflite"
QUANTIZATIONS = ("none", "dynamic_int8")
SUPPORTED_HEADS = ("sequence_classification",)


class _LiteModule(tf.Module):
    """The model behind its LiteRT tokenizer, as one function of raw text."""

    def __init__(self, model, tokenizer):
        super().__init__()
        model.electra.skip_padding = False  # its gathers of real tokens are not LiteRT builtins
        self.model, self.tokenizer = model, tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def predict_text(self, text):
        inputs = self.tokenizer.build_model_inputs(self.tokenizer.token_ids(text))
        logits = self.model(inputs, training=False)["logits"]
        if self.model.config.num_labels == 1:
            return {"score": logits[:, 0]}
        return {"probabilities": tf.nn.softmax(logits, axis=-1),
                "label_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}


def convert(model, vocab_file, max_length=128, quantize="none"):
    """The ``.tflite`` bytes of `model` (a sequence-classification model) with the tokenizer of `vocab_file`.

    Args:
      model: an `electra_tf.models` model with a ``sequence_classification`` head.
      vocab_file: its ``vocab.txt`` (WordPiece, or a SentencePiece unigram vocabulary beside it).
      max_length: the ids' padded length.
      quantize: ``none`` or ``dynamic_int8``.

    Raises ValueError (naming the flag) for another head, a vocabulary LiteRT's ops cannot tokenize, or
    another `quantize`."""
    if model.head_type not in SUPPORTED_HEADS:
        raise ValueError(f"--head: a {model.head_type} head cannot be exported to LiteRT (supported: "
                         f"{', '.join(SUPPORTED_HEADS)})")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"--quantize: {quantize!r} is not one of {', '.join(QUANTIZATIONS)}")
    if not 3 <= int(max_length) <= model.config.max_position_embeddings:
        raise ValueError(f"--max_length={max_length} must be in [3, {model.config.max_position_embeddings}]")
    module = _LiteModule(model, lite_tokenizer(vocab_file, max_length=int(max_length)))
    named = _Frozen(module.predict_text.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([named.predict_text.get_concrete_function()],
                                                                named)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # the tensorflow-text tokenizer ops
    if quantize == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


class _Frozen(tf.Module):
    """`function` with its variables turned into constants (LiteRT would keep Keras 3's variables as
    uninitialized resource variables: NaN outputs) and its outputs' names kept."""

    def __init__(self, function):
        super().__init__()
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        self._names = sorted(function.structured_outputs)
        self._function = convert_variables_to_constants_v2(function)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def predict_text(self, text):
        values = self._function(text)
        if isinstance(values, dict):
            return values
        return dict(zip(self._names, tf.nest.flatten(values)))


def export_litert(model, output_dir, vocab_file, max_length=128, quantize="none"):
    """Writes `convert`'s model as ``output_dir/model.tflite`` (atomically); returns its path."""
    content = convert(model, vocab_file, max_length, quantize)
    tf.io.gfile.makedirs(output_dir)
    path = os.path.join(output_dir, MODEL_FILE)
    with io_utils.atomic_file(path, "wb") as handle:
        handle.write(content)
    return path


def interpreter(model):
    """A LiteRT interpreter of `model` (a ``.tflite`` path or its bytes) with tensorflow-text's ops registered
    (TensorFlow's interpreter: the `ai-edge-litert` one cannot load that registrar)."""
    import tensorflow_text as tf_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    if not isinstance(model, bytes):
        with tf.io.gfile.GFile(model, "rb") as handle:
            model = handle.read()
    return InterpreterWithCustomOps(model_content=model,
                                    custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS)


def predict(runner, texts):
    """The outputs (dict of NumPy arrays) of `interpreter(...)`'s `runner` on a list of strings."""
    signature = runner.get_signature_runner()
    return signature(text=np.array(list(texts), dtype=object))
