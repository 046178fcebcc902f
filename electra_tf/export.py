"""Export a model as a transformers directory (or, with `--format saved_model`, a SavedModel for TF Serving:
see `electra_tf.serving`; with `--format keras_hub`, a keras-hub ElectraBackbone preset: see
`electra_tf.formats.keras_hub`; with `--format litert`, a ``.tflite`` model that takes raw text: see
`electra_tf.litert`); CLI `python -m electra_tf.export`.

The directory holds `config.json` (with `architectures`), `tf_model.h5` for transformers' TF classes and,
when a vocabulary is known, the tokenizer files. PyTorch weights (`model.safetensors`, PyTorch naming, what
transformers 5 reads) go to the subfolder `pytorch/` with their own config and tokenizer files, because
transformers 4.x TF classes prefer a root `model.safetensors` over `tf_model.h5` and then fail to convert it
(`TypeError: 'builtins.safe_open' object is not iterable`, transformers 4.57 with any safetensors >= 0.4).
`pytorch_subfolder=""` puts it in the root for PyTorch-only users. The directory is written to a
temporary name and swapped in at the end, so a failed export leaves an earlier one intact.

No export removes a file it did not write: an existing `output_dir` must be empty or an earlier export of the
same kind (else it is refused, naming the directory), and the files in it that no export of that kind writes
stay. The same holds for `--format saved_model` (`serving.export_saved_model`) and `keras_hub`
(`formats.keras_hub.write_preset`).
"""

import os

import tensorflow as tf
from absl import flags, logging

from electra_tf import cli, io_utils, litert, weights
from electra_tf.formats import hf_h5, keras_hub, pytorch
from electra_tf.models import MODEL_CLASSES
from electra_tf.pretrained import find_vocab, load_pretrained
from electra_tf.serving import export_saved_model
from electra_tf.tokenization import SENTENCEPIECE_FILES, TOKENIZER_FILES, save_tokenizer_files

# what an export writes
TRANSFORMERS_FILES = ("config.json", "tf_model.h5", "model.safetensors", *TOKENIZER_FILES, *SENTENCEPIECE_FILES)
_WEIGHT_FILES = ("tf_model.h5", "model.safetensors", "pytorch_model.bin")


def is_transformers_directory(path):
    """Whether `path` holds a transformers model (`config.json` and weights; not a keras-hub preset)."""
    if not any(tf.io.gfile.exists(os.path.join(path, name)) for name in _WEIGHT_FILES):
        return False
    try:
        return tf.io.gfile.exists(os.path.join(path, "config.json")) and keras_hub.preset_class(path) is None
    except ValueError:  # config.json is not JSON
        return False


def _transformers_owned(output_dir):
    """`relative path → whether an export writes it` for the files of an earlier export at `output_dir`: its
    files at the root and in a PyTorch subfolder (a folder holding `model.safetensors`)."""

    def owned(relative):
        folder, name = os.path.split(relative)
        return name in TRANSFORMERS_FILES and (
            not folder or tf.io.gfile.exists(os.path.join(output_dir, folder, "model.safetensors")))

    return owned


def export_transformers(model, output_dir, vocab_file=None, pytorch_subfolder="pytorch"):
    """Writes `model` as a transformers directory at `output_dir`, atomically; an existing `output_dir` must be
    empty or an earlier transformers directory, whose files that no export writes stay."""
    io_utils.check_replaceable(output_dir, is_transformers_directory, "transformers model")
    if pytorch_subfolder and (os.path.isabs(pytorch_subfolder) or ".." in pytorch_subfolder.split("/")):
        raise ValueError(f"--pytorch_subfolder={pytorch_subfolder!r} must be a folder inside --output_dir")
    arrays = weights.model_arrays(model)
    config = model.config.replace(architectures=[model.architecture])
    if model.head_type == "question_answering":
        config = config.with_labels(["LABEL_0", "LABEL_1"])
    owned = _transformers_owned(output_dir)
    with io_utils.atomic_directory(output_dir, keep=lambda relative: not owned(relative)) as directory:
        pytorch_dir = os.path.join(directory, pytorch_subfolder) if pytorch_subfolder else directory
        for target in {directory, pytorch_dir}:
            config.to_json_file(os.path.join(target, "config.json"))
            if vocab_file:
                save_tokenizer_files(vocab_file, target, max_length=config.max_position_embeddings)
        hf_h5.write_h5(arrays, model.head_type, os.path.join(directory, "tf_model.h5"))
        pytorch.write_safetensors(
            arrays, os.path.join(pytorch_dir, "model.safetensors"), base_model=model.head_type == "encoder")
    return output_dir


def export_keras_hub(model, output_dir, vocab_file=None):
    """Writes `model`'s encoder as a keras-hub ElectraBackbone preset (+ ElectraTokenizer with `vocab_file`) at
    `output_dir`, replacing any earlier one atomically; logs what keras-hub computes differently."""
    if model.head_type != "encoder":
        logging.info("keras-hub's ElectraBackbone holds the encoder only: the %s head is not exported",
                     model.head_type)
    note = keras_hub.write_preset(weights.model_arrays(model), model.config, output_dir, vocab_file)
    if note:
        logging.warning("%s", note)
    return output_dir


FLAGS = flags.FLAGS


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("input", None, "A transformers directory, a keras-hub ELECTRA preset, a run_pretraining.py "
                        "model_dir, or an original ELECTRA TF1 checkpoint.")
    flags.DEFINE_string("output_dir", None, "Directory to write: new, empty, or an earlier export of the same "
                        "--format (its other files stay).")
    flags.DEFINE_enum("format", "transformers", ["transformers", "saved_model", "keras_hub", "litert"],
                      "transformers: a directory transformers loads; saved_model: DIR/<version>/ for TF Serving; "
                      "keras_hub: a preset keras_hub.models.ElectraBackbone/ElectraTokenizer.from_preset load "
                      "(encoder only); litert: DIR/model.tflite, raw text in, a classifier's outputs out.")
    flags.DEFINE_enum("quantize", "none", litert.QUANTIZATIONS, "litert: dynamic_int8 stores the weights as int8.")
    flags.DEFINE_integer("max_length", 128, "litert: tokens per text, [CLS]/[SEP] included.")
    flags.DEFINE_enum("head", None, sorted(MODEL_CLASSES),
                      "Head to export; default: what the input holds (a discriminator exports ElectraForPreTraining).")
    flags.DEFINE_enum("network", "discriminator", ["discriminator", "generator"],
                      "Which network of a pre-training checkpoint (this project's or a TF1 one) to export.")
    flags.DEFINE_string("vocab", None, "vocab.txt to ship with the model; default: the one beside the input.")
    flags.DEFINE_string("pytorch_subfolder", "pytorch",
                        "Subfolder for model.safetensors; empty puts it in the root (then transformers 4.x TF classes "
                        "need use_safetensors=False).")


def main(argv):
    del argv
    export(FLAGS.input, FLAGS.output_dir, FLAGS.format, FLAGS.head, FLAGS.network, FLAGS.vocab,
           FLAGS.pytorch_subfolder, FLAGS.quantize, FLAGS.max_length)


def export(input_path, output_dir, output_format, head, network, vocab, pytorch_subfolder, quantize="none",
           max_length=128):
    """The command: loads `input_path` and writes it in `output_format` (`quantize`, `max_length`: LiteRT)."""
    model = load_pretrained(input_path, head_type=head, network=network)
    vocab = vocab or find_vocab(input_path)
    if output_format == "keras_hub":
        path = export_keras_hub(model, output_dir, vocab_file=vocab)
    elif output_format in ("saved_model", "litert"):
        if not vocab:
            raise ValueError(f"--vocab: a {output_format} model tokenizes in the graph and needs a vocabulary: "
                             f"{input_path} has no vocab.txt, pass --vocab")
        if output_format == "litert":
            path = litert.export_litert(model, output_dir, vocab, max_length, quantize)
        else:
            path = export_saved_model(model, output_dir, vocab)
    else:
        path = export_transformers(model, output_dir, vocab_file=vocab, pytorch_subfolder=pytorch_subfolder)
    logging.info("Exported %s (%s) to %s%s", input_path, model.architecture, path,
                 "" if vocab else " without a vocabulary (pass --vocab to add one)")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["input", "output_dir"])
    cli.run(main)
