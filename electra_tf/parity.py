"""Check an exported directory in transformers: `python -m electra_tf.parity --model_dir DIR [--model_dir ...]`.

Loads each directory with this package and with transformers' matching TF class (and PyTorch class from
`DIR/pytorch` when torch is installed), runs a padded two-segment batch through both and prints the
largest absolute difference of the outputs.
"""

import os

import numpy as np
from absl import flags

from electra_tf import cli, io_utils
from electra_tf.pretrained import detect_source, load_pretrained

FLAGS = flags.FLAGS

_OUTPUTS = {"encoder": ["last_hidden_state"], "question_answering": ["start_logits", "end_logits"]}


def sample_batch(vocab_size, batch_size=3, length=32, seed=0):
    """Random ids with two segments and padding (row i is 6·i tokens shorter)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, (batch_size, length)).astype(np.int32)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row in range(batch_size):
        used = length - 6 * row
        mask[row, :used] = 1
        types[row, used // 2:used] = 1
        ids[row, used:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def compare(model_dir):
    """Max |ours − transformers| per framework for one directory."""
    import transformers  # heavy, and only this check needs it

    source = detect_source(model_dir)
    if source != "transformers":
        raise ValueError(f"--model_dir {model_dir} holds a {source} model, not a transformers directory; export it "
                         "first (python -m electra_tf.export --input ... --output_dir ...)")
    transformers.logging.set_verbosity_error()  # its load notices are not this report
    ours = load_pretrained(model_dir)
    batch = sample_batch(ours.config.vocab_size)
    names = _OUTPUTS.get(ours.head_type, ["logits"])
    expected = ours(batch)
    results = {}
    tf_model = getattr(transformers, "TF" + ours.architecture).from_pretrained(model_dir)
    tf_outputs = tf_model(batch)
    results["transformers TF"] = max(float(np.abs(np.asarray(expected[n]) - tf_outputs[n].numpy()).max())
                                     for n in names)
    pytorch_dir = os.path.join(model_dir, "pytorch")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and os.path.isdir(pytorch_dir):
        pt_model = getattr(transformers, ours.architecture).from_pretrained(pytorch_dir).eval()
        with torch.no_grad():
            pt_outputs = pt_model(**{k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()})
        results["transformers PyTorch"] = max(
            float(np.abs(np.asarray(expected[n]) - getattr(pt_outputs, n).numpy()).max()) for n in names)
    return ours.architecture, results


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_multi_string("model_dir", None, "Exported transformers directory (repeatable).")
    flags.DEFINE_string("output", None, "Also write the report here.")


def main(argv):
    del argv
    lines = ["| directory | class | framework | max abs difference |", "|---|---|---|---|"]
    for model_dir in FLAGS.model_dir:
        architecture, results = compare(model_dir)
        lines += [f"| {model_dir} | {architecture} | {name} | {value:.2e} |" for name, value in results.items()]
    io_utils.report("\n".join(lines), FLAGS.output)


if __name__ == "__main__":
    define_flags()
    flags.mark_flag_as_required("model_dir")
    cli.run(main)
