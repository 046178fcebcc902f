"""Weights into and out of a pre-training run: a warm start from released weights (an original TF1 checkpoint,
transformers directories, keras-hub presets) and the export of both networks as transformers directories. Kept
out of `loop` so the loop depends on no loader or exporter."""

import os

from electra_tf import weights
from electra_tf.export import export_transformers
from electra_tf.formats import tf1_checkpoint
from electra_tf.pretrained import detect_source, read_source
from electra_tf.pretraining.vocab_extension import grow_arrays, piece_ids


def initialize_from(run, init_checkpoint, init_generator_checkpoint=None, extension=None):
    """Loads released weights into a fresh `loop.PretrainingRun`: both networks of an original TF1 checkpoint or
    of one of our runs, or transformers directories or keras-hub ELECTRA presets (discriminator, and optionally
    generator; a keras-hub preset holds the encoder only, so the head starts fresh). Optimizer slots start at zero.

    `extension`: ``(old_tokens, tokens)`` of `--extend_vocab` (`vocab_extension.extend_vocabulary`); the released
    per-token arrays are grown to ``tokens`` (`vocab_extension.grow_arrays`) before they are assigned."""
    pretrainer = run.pretrainer
    if extension:
        old_tokens, tokens = extension
        pieces = piece_ids(old_tokens, tokens[len(old_tokens):])  # the same for both networks

    def assign(model, arrays, source, **options):
        if extension:
            arrays = grow_arrays(arrays, len(old_tokens), pieces, source)
        weights.assign_arrays(model, arrays, source, **options)

    kind = detect_source(init_checkpoint)
    if kind in ("tf1", "pretraining"):
        for network in ("generator", "discriminator"):  # the discriminator's embeddings win if they differ
            model = getattr(pretrainer, network)
            if kind == "tf1":
                _, arrays = tf1_checkpoint.read_tf1_checkpoint(init_checkpoint, network, list(model.hf_weights()))
            else:
                _, arrays, _ = read_source(init_checkpoint, network=network)
            assign(model, arrays, init_checkpoint, allow_missing_head=False)
        return
    if init_generator_checkpoint:
        _, arrays, _ = read_source(init_generator_checkpoint, network="generator")
        assign(pretrainer.generator, arrays, init_generator_checkpoint)
    _, arrays, _ = read_source(init_checkpoint)
    assign(pretrainer.discriminator, arrays, init_checkpoint)


def export(run, vocab_file, output_dir=None):
    """Writes the run's discriminator and generator as transformers directories (default MODEL_DIR/export/);
    returns {network: path}."""
    output_dir = output_dir or os.path.join(run.model_dir, "export")
    return {name: export_transformers(getattr(run.pretrainer, name), os.path.join(output_dir, name),
                                      vocab_file=vocab_file)
            for name in ("discriminator", "generator")}
