"""Max |Δ| of `sequence_output` between our encoder and keras-hub's ElectraBackbone loaded from our export.

    PYTHONPATH=. python tests/scripts/keras_hub_difference.py --preset koelectra-small-v3 [--preset ...]

Random weights (the `randomize_weights` test helper: every variable N(0, 0.05), LayerNorm gammas 1 + that
noise) and a batch of the sample corpus as sentence pairs with padding (the sample vocabulary's ids). The
README's keras-hub section records what this prints; tests/test_keras_hub.py bounds the small shape by twice it.
"""

import os
import sys
import tempfile

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from conftest import randomize_weights  # noqa: E402
from test_keras_hub import korean_pair_batch  # noqa: E402

from electra_tf.config import ElectraConfig  # noqa: E402
from electra_tf.export import export_keras_hub  # noqa: E402
from electra_tf.models import build_model  # noqa: E402

flags.DEFINE_multi_string("preset", ["koelectra-small-v3"], "electra_tf.config presets to measure.")
flags.DEFINE_string("hidden_act", "gelu", "Our activation (keras-hub always runs tanh GELU).")
flags.DEFINE_integer("batch_size", 8, "Sentence pairs per batch.")
flags.DEFINE_integer("max_length", 128, "Padded length.")
flags.DEFINE_integer("seed", 0, "Weight seed.")
FLAGS = flags.FLAGS


def measure(preset, hidden_act, batch, seed):
    import keras_hub  # measured library

    config = ElectraConfig.from_preset(preset, hidden_act=hidden_act)
    model = randomize_weights(build_model(config, "encoder"), seed=seed)
    ours = model(batch)["last_hidden_state"].numpy()
    with tempfile.TemporaryDirectory() as directory:
        export_keras_hub(model, os.path.join(directory, "preset"))
        backbone = keras_hub.models.ElectraBackbone.from_preset(os.path.join(directory, "preset"))
    theirs = backbone({"token_ids": batch["input_ids"], "segment_ids": batch["token_type_ids"],
                       "padding_mask": batch["attention_mask"]})["sequence_output"]
    difference = np.abs(np.asarray(theirs) - ours)
    real = batch["attention_mask"].astype(bool)
    return float(difference.max()), float(difference[real].max())


def main(argv):
    del argv
    batch = korean_pair_batch(FLAGS.batch_size, FLAGS.max_length)
    print(f"batch {batch['input_ids'].shape}, real tokens {int(batch['attention_mask'].sum())}")
    for preset in FLAGS.preset:
        everywhere, real = measure(preset, FLAGS.hidden_act, batch, FLAGS.seed)
        print(f"{preset} hidden_act={FLAGS.hidden_act}: max |Δ| {everywhere:.2e} (real tokens {real:.2e})")


if __name__ == "__main__":
    app.run(main)
