"""The ELECTRA encoder: embeddings, optional projection, and a stack of keras-hub transformer layers.

Each layer also reports its weights under transformers' names (`hf_weights()`), the single naming every
import and export format of this package is translated from.
"""

import keras
import keras_hub
from keras import ops

from electra_tf.activations import get_activation


def truncated_normal(config):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def dense_weights(prefix, layer):
    """transformers' names for a Dense/EinsumDense layer's kernel and bias."""
    return {f"{prefix}/kernel:0": layer.kernel, f"{prefix}/bias:0": layer.bias}


def layer_norm_weights(prefix, layer):
    return {f"{prefix}/gamma:0": layer.gamma, f"{prefix}/beta:0": layer.beta}


class ElectraEmbeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, then LayerNorm and dropout (shared by G and D in pre-training)."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        config = self.config
        self.word_embeddings = self.add_weight(
            shape=(config.vocab_size, config.embedding_size), initializer=truncated_normal(config),
            name="word_embeddings")
        self.position_embeddings = self.add_weight(
            shape=(config.max_position_embeddings, config.embedding_size),
            initializer=truncated_normal(config), name="position_embeddings")
        self.token_type_embeddings = self.add_weight(
            shape=(config.type_vocab_size, config.embedding_size), initializer=truncated_normal(config),
            name="token_type_embeddings")
        self.layer_norm.build((None, None, config.embedding_size))

    def call(self, input_ids, token_type_ids, training=False):
        sequence_length = ops.shape(input_ids)[1]
        embeddings = ops.take(self.word_embeddings, input_ids, axis=0)
        embeddings = embeddings + ops.take(self.token_type_embeddings, token_type_ids, axis=0)
        embeddings = embeddings + self.position_embeddings[None, :sequence_length]
        return self.dropout(self.layer_norm(embeddings), training=training)

    def hf_weights(self):
        return {
            "word_embeddings/weight:0": self.word_embeddings,
            "token_type_embeddings/embeddings:0": self.token_type_embeddings,
            "position_embeddings/embeddings:0": self.position_embeddings,
            **layer_norm_weights("LayerNorm", self.layer_norm),
        }


class TransformerLayer(keras_hub.layers.TransformerEncoder):
    """keras-hub's post-LayerNorm transformer layer with BERT's separate attention-probability dropout."""

    def __init__(self, attention_dropout, **kwargs):
        super().__init__(**kwargs)
        self.attention_dropout = attention_dropout

    def build(self, inputs_shape):
        super().build(inputs_shape)
        self._self_attention_layer._dropout_layer.rate = self.attention_dropout

    def hf_weights(self):
        attention = self._self_attention_layer
        return {
            **dense_weights("attention/self/query", attention._query_dense),
            **dense_weights("attention/self/key", attention._key_dense),
            **dense_weights("attention/self/value", attention._value_dense),
            **dense_weights("attention/output/dense", attention._output_dense),
            **layer_norm_weights("attention/output/LayerNorm", self._self_attention_layer_norm),
            **dense_weights("intermediate/dense", self._feedforward_intermediate_dense),
            **dense_weights("output/dense", self._feedforward_output_dense),
            **layer_norm_weights("output/LayerNorm", self._feedforward_layer_norm),
        }


class ElectraEncoder(keras.layers.Layer):
    """ELECTRA's main layer: `{"input_ids", "attention_mask", "token_type_ids"}` → last hidden state.

    `embeddings` may be an existing `ElectraEmbeddings` to share (the generator shares the discriminator's).
    """

    def __init__(self, config, embeddings=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = embeddings or ElectraEmbeddings(config, dtype=self.dtype_policy, name="embeddings")
        self.embeddings_project = None
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = keras.layers.Dense(
                config.hidden_size, kernel_initializer=truncated_normal(config), dtype=self.dtype_policy,
                name="embeddings_project")
        self.transformer_layers = [
            TransformerLayer(
                attention_dropout=config.attention_probs_dropout_prob,
                intermediate_dim=config.intermediate_size,
                num_heads=config.num_attention_heads,
                dropout=config.hidden_dropout_prob,
                activation=get_activation(config.hidden_act),
                layer_norm_epsilon=config.layer_norm_eps,
                kernel_initializer=truncated_normal(config),
                dtype=self.dtype_policy,
                name=f"layer_{index}",
            )
            for index in range(config.num_hidden_layers)
        ]

    def build(self, input_shape=None):
        config = self.config
        if not self.embeddings.built:
            self.embeddings.build()
        if self.embeddings_project is not None:
            self.embeddings_project.build((None, None, config.embedding_size))
        for layer in self.transformer_layers:
            layer.build((None, None, config.hidden_size))

    def call(self, inputs, training=False):
        input_ids = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        token_type_ids = inputs.get("token_type_ids")
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids, training=training)
        if self.embeddings_project is not None:
            hidden = self.embeddings_project(hidden)
        padding_mask = ops.cast(attention_mask, "bool")
        for layer in self.transformer_layers:
            hidden = layer(hidden, padding_mask=padding_mask, training=training)
        return hidden

    def hf_weights(self, include_embeddings=True):
        """transformers' names (below `electra/`) → variables; without the embeddings table if shared away."""
        names = {}
        if include_embeddings:
            names.update({f"embeddings/{k}": v for k, v in self.embeddings.hf_weights().items()})
        if self.embeddings_project is not None:
            names.update(dense_weights("embeddings_project", self.embeddings_project))
        for index, layer in enumerate(self.transformer_layers):
            names.update({f"encoder/layer_._{index}/{k}": v for k, v in layer.hf_weights().items()})
        return names
