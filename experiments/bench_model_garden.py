"""TF Model Garden's ELECTRA (`official.nlp.modeling.models.ElectraPretrainer`) on our shards, for a learning-curve
comparison with our pre-training (issue #15).

Runs in its own virtual environment (tf-models-official pins its TensorFlow, 2.20, and Keras 2 as tf_keras):

    python -m venv /work/mg-venv && /work/mg-venv/bin/pip install tf-models-official
    /work/mg-venv/bin/python -m experiments.bench_model_garden --data_dir SHARDS --vocab VOCAB --output mg.json \\
        [--preset tiny] [--hparams '{"train_steps": 400, ...}']

What is the same as `run_pretraining.py --config=configs/pretrain/PRESET.json --hparams=...`: the model sizes
(discriminator from the preset, generator from its fractions, word embeddings tied), the shards and their order
(`pretraining_dataset` with the preset's seed), the masked positions (`masking.mask_inputs` with the same
per-example seeds), the losses (`gen_weight` x MLM + `disc_weight` x replaced-token detection over non-padding
tokens), batch, learning-rate schedule (warmup overlapping linear decay), weight decay (not on LayerNorm/bias),
global-norm clipping, and the logged metrics (`pretraining.metrics`, every `log_steps` steps, in the format of
our `metrics.json`). What is Model Garden's own: the encoders (`BertEncoder`: only the word embeddings are
shared, each network has its own position/type embeddings), the heads, the generator sampling, and the
optimizer (`AdamWeightDecay`: Keras Adam, i.e. *with* bias correction).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Model Garden is written for Keras 2 (tf_keras)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout (configs/); run from it

import numpy as np
import tensorflow as tf
from official.modeling.optimization import legacy_adamw
from official.nlp.modeling import models, networks

from electra_tf import io_utils
from electra_tf.data.pretraining_dataset import pretraining_dataset
from electra_tf.data.schema import shard_files
from electra_tf.pretraining import masking
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.metrics import metrics_from_sums, window_statistics
from electra_tf.tokenization import load_vocab, special_token_ids


class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Our pre-training schedule (`optimization.WarmupPolynomialDecay`) for a Keras 2 optimizer."""

    def __init__(self, learning_rate, train_steps, warmup_steps, power):
        self.learning_rate, self.train_steps, self.warmup_steps, self.power = (
            learning_rate, train_steps, warmup_steps, power)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        progress = tf.minimum(step, float(self.train_steps)) / float(max(1, self.train_steps))
        rate = self.learning_rate * tf.pow(1.0 - progress, self.power)
        if self.warmup_steps:
            rate *= tf.minimum(1.0, step / float(self.warmup_steps))
        return rate

    def get_config(self):
        return {}


def activation(name):
    if name not in ("gelu", "gelu_new"):
        raise ValueError(f"hidden_act {name!r}: only gelu is mapped to Model Garden")
    return lambda x: tf.keras.activations.gelu(x, approximate=name == "gelu_new")


def encoder(config, embedding_layer=None):
    """A Model Garden `BertEncoder` (functional, list inputs, as `ElectraPretrainer` calls it) of an
    `ElectraConfig`'s sizes."""
    return networks.BertEncoder(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, max_sequence_length=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size, inner_dim=config.intermediate_size,
        inner_activation=activation(config.hidden_act), output_dropout=config.hidden_dropout_prob,
        attention_dropout=config.attention_probs_dropout_prob,
        initializer=tf.keras.initializers.TruncatedNormal(stddev=config.initializer_range),
        embedding_width=config.embedding_size, embedding_layer=embedding_layer, dict_outputs=True)


def build_pretrainer(config, discriminator_config):
    generator_config = config.generator_config(discriminator_config)
    discriminator = encoder(discriminator_config)
    generator = encoder(generator_config, embedding_layer=discriminator.get_embedding_layer())
    return models.ElectraPretrainer(
        generator_network=generator, discriminator_network=discriminator, vocab_size=discriminator_config.vocab_size,
        num_classes=2, num_token_predictions=config.max_predictions_per_seq,
        mlm_activation=activation(generator_config.hidden_act),
        mlm_initializer=tf.keras.initializers.TruncatedNormal(stddev=generator_config.initializer_range),
        disallow_correct=config.disallow_correct)


def build_optimizer(config):
    schedule = WarmupLinearDecay(config.learning_rate, config.train_steps, config.warmup_steps, config.lr_decay_power)
    return legacy_adamw.AdamWeightDecay(
        learning_rate=schedule, weight_decay_rate=config.weight_decay_rate, epsilon=config.adam_epsilon,
        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"], gradient_clip_norm=config.clip_norm)


def make_train_step(config, pretrainer, optimizer, special_ids):
    """A compiled step: our masking of the batch, Model Garden's forward pass, our loss; returns window sums."""
    batch_size, predictions = config.train_batch_size, config.max_predictions_per_seq
    ids = special_ids

    @tf.function
    def train_step(batch, step):
        seeds = masking.example_seeds(config.seed, step, batch_size, 0, batch_size)
        masked_ids, positions, targets, weights = masking.mask_inputs(
            batch["input_ids"], batch["input_mask"], seeds, [ids["cls"], ids["sep"], ids["mask"]], ids["mask"],
            config.mask_prob, predictions, config.mask_token_prob)
        # Model Garden scatters samples at every listed position; unused ones must point at position 0 ([CLS]).
        positions *= tf.cast(weights, positions.dtype)
        inputs = {"input_word_ids": masked_ids, "input_mask": batch["input_mask"],
                  "input_type_ids": batch["segment_ids"], "masked_lm_positions": positions,
                  "masked_lm_ids": targets, "masked_lm_weights": weights}
        token_weights = tf.cast(batch["input_mask"], tf.float32)
        with tf.GradientTape() as tape:
            outputs = pretrainer(inputs, training=True)
            mlm_logits = tf.cast(outputs["lm_outputs"], tf.float32)
            mlm_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=mlm_logits)
            mlm_loss = tf.reduce_sum(mlm_losses * weights) / (tf.reduce_sum(weights) + 1e-6)
            labels = tf.cast(outputs["disc_label"], tf.float32)
            disc_logits = tf.cast(outputs["disc_logits"], tf.float32)
            disc_losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=disc_logits)
            disc_loss = tf.reduce_sum(disc_losses * token_weights) / tf.reduce_sum(token_weights)
            loss = config.gen_weight * mlm_loss + config.disc_weight * disc_loss
        variables = pretrainer.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(gradients, variables) if g is not None])
        no_samples = tf.fill(tf.shape(targets), tf.constant(-1, targets.dtype))  # Model Garden keeps its samples
        return window_statistics(mlm_losses, mlm_logits, no_samples, targets, weights, disc_losses, disc_logits,
                                 labels, token_weights)

    return train_step


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True, help="Our shards (electra_tf.data.build_pretraining_data).")
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--output", required=True, help="metrics JSON to write (our metrics.json format).")
    parser.add_argument("--preset", default="tiny", help="configs/pretrain preset name or JSON path.")
    parser.add_argument("--hparams", help="JSON overrides, as run_pretraining.py's --hparams.")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    preset = args.preset if args.preset.endswith(".json") else os.path.join(ROOT, "configs", "pretrain",
                                                                              args.preset + ".json")
    try:
        config = PretrainingConfig.from_json_file(preset, args.hparams)
        vocab = load_vocab(args.vocab)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    tf.keras.utils.set_random_seed(config.seed)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    pretrainer = build_pretrainer(config, discriminator_config)
    optimizer = build_optimizer(config)
    train_step = make_train_step(config, pretrainer, optimizer, special_token_ids(vocab))
    dataset = pretraining_dataset(shard_files(args.data_dir), config.max_seq_length, config.train_batch_size,
                                  is_training=True, seed=config.seed)
    history, window, window_start, started = [], None, 0, time.time()
    for step, batch in enumerate(dataset.take(config.train_steps)):
        sums = {key: value.numpy() for key, value in train_step(batch, tf.constant(step, tf.int64)).items()}
        window = sums if window is None else {key: window[key] + sums[key] for key in sums}
        done = step + 1
        if done % config.log_steps == 0 or done == config.train_steps:
            metrics = metrics_from_sums(window, config.gen_weight, config.disc_weight)
            metrics.pop("sampled_masked_lm_accuracy")
            seconds = time.time() - started
            history.append({"step": done, **{key: float(value) for key, value in metrics.items()},
                            "examples_per_second": (done - window_start) * config.train_batch_size / seconds})
            io_utils.write_json(args.output, history)
            print(f"step {done}/{config.train_steps} disc_loss {metrics['disc_loss']:.4f} "
                  f"disc_auc {metrics['disc_auc']:.3f} masked_lm_accuracy {metrics['masked_lm_accuracy']:.3f}",
                  flush=True)
            window, window_start, started = None, done, time.time()
    params = int(sum(np.prod(v.shape) for v in pretrainer.trainable_variables))
    print(f"wrote {args.output} ({params} trainable parameters)")


if __name__ == "__main__":
    main()
