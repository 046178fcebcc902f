"""The ELECTRA encoder: embeddings, optional projection, and a stack of BERT transformer layers.

Each layer also reports its weights under transformers' names (`hf_weights()`), the single naming every
import and export format of this package is translated from.
"""

import keras
import tensorflow as tf
from keras import ops

from electra_tf.activations import get_activation
from electra_tf.dropout import Dropout, keyed


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
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

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
        embeddings = tf.gather(self.word_embeddings, input_ids)  # ids are never negative: no ops.take wrapping
        embeddings = embeddings + tf.gather(self.token_type_embeddings, token_type_ids)
        embeddings = embeddings + self.position_embeddings[None, :sequence_length]
        return self.dropout(self.layer_norm(embeddings), training=training)

    def hf_weights(self):
        return {
            "word_embeddings/weight:0": self.word_embeddings,
            "token_type_embeddings/embeddings:0": self.token_type_embeddings,
            "position_embeddings/embeddings:0": self.position_embeddings,
            **layer_norm_weights("LayerNorm", self.layer_norm),
        }


def token_index(attention_mask):
    """int ``[N]``: where the real tokens (mask 1) are in the flattened ``[batch * length]`` grid."""
    return tf.cast(tf.where(tf.reshape(attention_mask, [-1]) != 0)[:, 0], tf.int32)


def attention_bias(attention_mask, dtype):
    """``[batch, length]`` 1/0 mask → additive ``[batch, 1, 1, length]`` bias: 0 for tokens, a large negative
    number for padding keys (computed once per forward pass and shared by all layers)."""
    large_negative = -3e4 if keras.backend.standardize_dtype(dtype) == "float16" else -1e9
    padding = 1.0 - ops.cast(attention_mask, dtype)
    return ops.multiply(padding, ops.cast(large_negative, dtype))[:, None, None, :]


class TransformerLayer(keras.layers.Layer):
    """BERT's post-LayerNorm transformer layer: self-attention, add & LayerNorm, feed-forward, add & LayerNorm.

    Built from Keras `Dense`, `LayerNormalization` and `Dropout` with the activation named by the config.
    keras-hub's `TransformerEncoder` computes the same function but, through `MultiHeadAttention`'s
    einsums, runs its projections as broadcast batched matmuls and its attention through einsums that
    TensorFlow's CPU kernels execute 1.4-2x slower than flat matmuls; this layer keeps the projections
    2-D (``[tokens, hidden]``) and the attention a batched matmul over ``[batch, heads, length, ...]``.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size={config.hidden_size} is not a multiple of "
                             f"num_attention_heads={config.num_attention_heads}")
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads

        def dense(units, name, activation=None):
            return keras.layers.Dense(units, activation=activation, kernel_initializer=truncated_normal(config),
                                      dtype=self.dtype_policy, name=name)

        def layer_norm(name):
            return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, dtype=self.dtype_policy,
                                                   name=name)

        hidden = config.hidden_size
        self.query, self.key, self.value = (dense(hidden, name) for name in ("query", "key", "value"))
        self.attention_output = dense(hidden, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.intermediate = dense(config.intermediate_size, "intermediate", get_activation(config.hidden_act))
        self.output_dense = dense(hidden, "output")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.attention_dropout = Dropout(config.attention_probs_dropout_prob, dtype=self.dtype_policy)
        self.attention_output_dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.output_dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        hidden, intermediate = self.config.hidden_size, self.config.intermediate_size
        for layer in (self.query, self.key, self.value, self.attention_output, self.intermediate):
            layer.build((None, None, hidden))
        self.output_dense.build((None, None, intermediate))
        self.attention_layer_norm.build((None, None, hidden))
        self.output_layer_norm.build((None, None, hidden))

    def call(self, tokens, attention_bias, training=False, token_index=None, query_positions=None):
        """`tokens` ``[T, hidden]``: the rows of the ``[batch, length]`` grid of `attention_bias` (see
        `attention_bias()`), in order (T = batch · length), or with `token_index` (see `token_index()`) only the
        real tokens' rows (T = N), so that the dense layers skip the padding; attention scatters them onto the grid.

        Returns ``[T, hidden]``, or with `query_positions` (int ``[batch, P]``) ``[batch · P, hidden]``: only those
        positions are computed (they still attend to every token), equal to the full output's rows there.
        """
        batch, length = ops.shape(attention_bias)[0], ops.shape(attention_bias)[-1]
        packed = token_index is not None

        def on_grid(rows):  # [T, width] → [batch · length, width], zeros at the padding
            if not packed:
                return rows
            return tf.scatter_nd(token_index[:, None], rows, tf.stack([batch * length, tf.shape(rows)[-1]]))

        def split_heads(rows, count, permutation=(0, 2, 1, 3)):
            """[batch · count, hidden] → [batch, heads, count, head_size] (or as `permutation` orders it)"""
            return ops.transpose(ops.reshape(rows, (batch, count, self.num_heads, self.head_size)), permutation)

        if query_positions is None:
            queries, query_count = tokens, length
            query = on_grid(self.query(tokens))
        else:
            query_count = ops.shape(query_positions)[1]
            grid_rows = query_positions + ops.arange(batch, dtype=query_positions.dtype)[:, None] * length
            queries = tf.gather(on_grid(tokens), ops.reshape(grid_rows, (-1,)))
            query = self.query(queries)
        query = split_heads(query, query_count)
        key = split_heads(on_grid(self.key(tokens)), length, permutation=(0, 2, 3, 1))  # [b, heads, head_size, len]
        value = split_heads(on_grid(self.value(tokens)), length)
        scores = ops.matmul(query, key)
        scores = ops.multiply(scores, ops.cast(self.head_size ** -0.5, scores.dtype)) + attention_bias
        probabilities = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probabilities, value), (0, 2, 1, 3))
        context = ops.reshape(context, (-1, self.num_heads * self.head_size))
        if packed and query_positions is None:
            context = tf.gather(context, token_index)

        def dropout(layer, rows):  # keyed masks need one row per example: packed tokens go onto the grid and back
            if not training or (packed and query_positions is None and not keyed()):
                return layer(rows, training=training)
            if packed and query_positions is None:
                grid = layer(ops.reshape(on_grid(rows), (batch, -1)), training=training)
                return tf.gather(ops.reshape(grid, (batch * length, -1)), token_index)
            return ops.reshape(layer(ops.reshape(rows, (batch, -1)), training=training), ops.shape(rows))

        attention = dropout(self.attention_output_dropout, self.attention_output(context))
        hidden = self.attention_layer_norm(queries + attention)
        output = dropout(self.output_dropout, self.output_dense(self.intermediate(hidden)))
        return self.output_layer_norm(hidden + output)

    def hf_weights(self):
        return {
            **dense_weights("attention/self/query", self.query),
            **dense_weights("attention/self/key", self.key),
            **dense_weights("attention/self/value", self.value),
            **dense_weights("attention/output/dense", self.attention_output),
            **layer_norm_weights("attention/output/LayerNorm", self.attention_layer_norm),
            **dense_weights("intermediate/dense", self.intermediate),
            **dense_weights("output/dense", self.output_dense),
            **layer_norm_weights("output/LayerNorm", self.output_layer_norm),
        }


class ElectraEncoder(keras.layers.Layer):
    """ELECTRA's main layer: `{"input_ids", "attention_mask", "token_type_ids"}` → last hidden state.

    `embeddings` may be an existing `ElectraEmbeddings` to share (the generator shares the discriminator's).
    With `skip_padding` (an attribute; `FineTuner` sets it unless it compiles with XLA, and the SavedModel
    export sets it), calls with `output_positions` leave the padding out of the dense layers: the same
    outputs, less work.
    It gives tensors of data-dependent size, which XLA cannot draw dropout masks for, so it is off by default.
    """

    def __init__(self, config, embeddings=None, skip_padding=False, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.skip_padding = skip_padding
        self.embeddings = embeddings or ElectraEmbeddings(config, dtype=self.dtype_policy, name="embeddings")
        self.embeddings_project = None
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = keras.layers.Dense(
                config.hidden_size, kernel_initializer=truncated_normal(config), dtype=self.dtype_policy,
                name="embeddings_project")
        self.transformer_layers = [TransformerLayer(config, dtype=self.dtype_policy, name=f"layer_{index}")
                                   for index in range(config.num_hidden_layers)]
        for layer in self.transformer_layers:
            # Keras 3 lists are invisible to tf.train.Checkpoint: name each layer in the object graph, so a
            # checkpoint holds them under `.../electra/layer_<i>/` and a model restores without its optimizer.
            self._track_trackable(layer, name=layer.name)

    def build(self, input_shape=None):
        config = self.config
        if not self.embeddings.built:
            self.embeddings.build()
        if self.embeddings_project is not None:
            self.embeddings_project.build((None, None, config.embedding_size))
        for layer in self.transformer_layers:
            layer.build((None, None, config.hidden_size))

    def call(self, inputs, training=False, output_positions=None):
        """Last hidden state ``[batch, length, hidden]``, or ``[batch, P, hidden]`` at `output_positions`
        (int ``[batch, P]``), for which the last layer computes only those positions. The padding then never
        reaches the output, so with `skip_padding` the dense parts of every layer run on the real tokens only
        (`output_positions` must then point at real tokens)."""
        input_ids = inputs["input_ids"]
        attention_mask = inputs.get("attention_mask")
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        token_type_ids = inputs.get("token_type_ids")
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids, training=training)
        bias = attention_bias(attention_mask, hidden.dtype)
        batch, length = ops.shape(input_ids)[0], ops.shape(input_ids)[1]
        tokens = ops.reshape(hidden, (-1, self.config.embedding_size))  # the layers work on [tokens, width]
        index = None
        if output_positions is not None and self.skip_padding:
            index = token_index(attention_mask)
            tokens = tf.gather(tokens, index)
        if self.embeddings_project is not None:
            tokens = self.embeddings_project(tokens)
        last = len(self.transformer_layers) - 1
        for number, layer in enumerate(self.transformer_layers):
            positions = output_positions if number == last else None
            tokens = layer(tokens, bias, training=training, token_index=index, query_positions=positions)
        rows = length if output_positions is None else ops.shape(output_positions)[1]
        return ops.reshape(tokens, (batch, rows, self.config.hidden_size))

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
