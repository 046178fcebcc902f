"""Task heads on top of the encoder, each with transformers' weight names.

The shapes and activations follow transformers' ELECTRA classes: the discriminator head uses `hidden_act`,
the generator and classification heads use exact GELU whatever the config says.
"""

import keras
from keras import ops

from electra_tf.activations import get_activation
from electra_tf.dropout import Dropout
from electra_tf.encoder import dense_weights, layer_norm_weights, truncated_normal


def _dense(config, units, name, activation=None, dtype=None):
    return keras.layers.Dense(
        units, activation=activation, kernel_initializer=truncated_normal(config), dtype=dtype, name=name)


class DiscriminatorHead(keras.layers.Layer):
    """dense(H, hidden_act) → dense(1): one replaced-token logit per position."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.dense = _dense(config, config.hidden_size, "dense", get_activation(config.hidden_act), self.dtype_policy)
        self.dense_prediction = _dense(config, 1, "dense_prediction", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.dense_prediction.build(self.dense.compute_output_shape(input_shape))

    def call(self, hidden):
        return ops.squeeze(self.dense_prediction(self.dense(hidden)), axis=-1)

    def hf_weights(self):
        return {**dense_weights("discriminator_predictions/dense", self.dense),
                **dense_weights("discriminator_predictions/dense_prediction", self.dense_prediction)}


class GeneratorHead(keras.layers.Layer):
    """dense(E, gelu) → LayerNorm → logits against the (tied) word-embedding table + output bias."""

    def __init__(self, config, embeddings, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = embeddings
        self.dense = _dense(config, config.embedding_size, "dense", get_activation("gelu"), self.dtype_policy)
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.layer_norm.build(self.dense.compute_output_shape(input_shape))
        self.bias = self.add_weight(shape=(self.config.vocab_size,), initializer="zeros", name="output_bias")

    def call(self, hidden):
        hidden = self.layer_norm(self.dense(hidden))
        return ops.matmul(hidden, ops.transpose(self.embeddings.word_embeddings)) + self.bias

    def hf_weights(self):
        return {**dense_weights("generator_predictions/dense", self.dense),
                **layer_norm_weights("generator_predictions/LayerNorm", self.layer_norm),
                "generator_lm_head/bias:0": self.bias}


class SequenceClassificationHead(keras.layers.Layer):
    """ELECTRA's classifier on the first token: dropout → dense(H) → gelu → dropout → out_proj."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = Dropout(rate, dtype=self.dtype_policy)
        self.dense = _dense(config, config.hidden_size, "dense", get_activation("gelu"), self.dtype_policy)
        self.out_proj = _dense(config, config.num_labels, "out_proj", dtype=self.dtype_policy)

    def build(self, input_shape):
        pooled_shape = (input_shape[0], input_shape[-1])
        self.dense.build(pooled_shape)
        self.out_proj.build(self.dense.compute_output_shape(pooled_shape))

    def call(self, hidden, training=False):
        hidden = self.dropout(hidden[:, 0], training=training)
        hidden = self.dropout(self.dense(hidden), training=training, draw=1)  # a mask of its own
        return self.out_proj(hidden)

    def hf_weights(self):
        return {**dense_weights("classifier/dense", self.dense),
                **dense_weights("classifier/out_proj", self.out_proj)}


class TokenClassificationHead(keras.layers.Layer):
    """dropout → dense(num_labels) on every position."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = Dropout(rate, dtype=self.dtype_policy)
        self.classifier = _dense(config, config.num_labels, "classifier", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.classifier.build(input_shape)

    def call(self, hidden, training=False):
        return self.classifier(self.dropout(hidden, training=training))

    def hf_weights(self):
        return dense_weights("classifier", self.classifier)


class QuestionAnsweringHead(keras.layers.Layer):
    """dense(2) on every position → start and end logits."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.qa_outputs = _dense(config, 2, "qa_outputs", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.qa_outputs.build(input_shape)

    def call(self, hidden):
        logits = self.qa_outputs(hidden)
        return logits[..., 0], logits[..., 1]

    def hf_weights(self):
        return dense_weights("qa_outputs", self.qa_outputs)
