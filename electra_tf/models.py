"""Keras models: the encoder alone and the encoder with each head, mirroring transformers' ELECTRA classes.

Every model takes a dict of `input_ids`, `attention_mask`, `token_type_ids` (int [batch, seq]) and returns
a dict of float32 outputs named as transformers names them. `model.hf_weights()` maps transformers' weight
names (as in `tf_model.h5`, without the class scope) to the model's variables.
"""

import keras
from keras import ops

from electra_tf import heads
from electra_tf.config import HEAD_ARCHITECTURES
from electra_tf.encoder import ElectraEncoder


class ElectraModel(keras.Model):
    """The encoder; outputs `last_hidden_state`."""

    head_type = "encoder"

    def __init__(self, config, embeddings=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.electra = ElectraEncoder(config, embeddings=embeddings, dtype=self.dtype_policy, name="electra")
        self.head = self.make_head(config)

    def make_head(self, config):
        return None

    def build(self, input_shape=None):
        self.electra.build()
        if self.head is not None:
            self.head.build((None, None, self.config.hidden_size))

    def build_now(self):
        """Creates every variable (shapes come from the config) and returns the model."""
        if not self.built:
            self.build()
            self.built = True
        return self

    def call(self, inputs, training=False):
        hidden = self.electra(inputs, training=training, output_positions=self.output_positions(inputs))
        return self.call_head(hidden, training)

    def output_positions(self, inputs):
        """Positions the head reads (None: all); the encoder's last layer computes only these."""
        return None

    def call_head(self, hidden, training):
        return {"last_hidden_state": ops.cast(hidden, "float32")}

    @property
    def architecture(self):
        return HEAD_ARCHITECTURES[self.head_type]

    def hf_weights(self):
        names = {f"electra/{key}": value for key, value in self.electra.hf_weights().items()}
        if self.head is not None:
            names.update(self.head.hf_weights())
        return names

    def dummy_inputs(self, batch_size=1, sequence_length=8):
        ids = ops.ones((batch_size, sequence_length), "int32")
        return {"input_ids": ids, "attention_mask": ids, "token_type_ids": ops.zeros_like(ids)}


class ElectraForPreTraining(ElectraModel):
    """The discriminator: one replaced-token logit per position (`logits` [batch, seq])."""

    head_type = "discriminator"

    def make_head(self, config):
        return heads.DiscriminatorHead(config, dtype=self.dtype_policy, name="discriminator_predictions")

    def call_head(self, hidden, training):
        return {"logits": ops.cast(self.head(hidden), "float32")}


class ElectraForMaskedLM(ElectraModel):
    """The generator: vocabulary logits per position, output layer tied to the word embeddings."""

    head_type = "generator"

    def make_head(self, config):
        return heads.GeneratorHead(config, self.electra.embeddings, dtype=self.dtype_policy,
                                   name="generator_predictions")

    def call_head(self, hidden, training):
        return {"logits": ops.cast(self.head(hidden), "float32")}


class ElectraForSequenceClassification(ElectraModel):
    """Classification (or regression when `num_labels == 1`) from the first token."""

    head_type = "sequence_classification"

    def make_head(self, config):
        return heads.SequenceClassificationHead(config, dtype=self.dtype_policy, name="classifier")

    def output_positions(self, inputs):
        return ops.zeros_like(inputs["input_ids"][:, :1])

    def call_head(self, hidden, training):
        return {"logits": ops.cast(self.head(hidden, training=training), "float32")}


class ElectraForTokenClassification(ElectraModel):
    """A label per position (`logits` [batch, seq, num_labels])."""

    head_type = "token_classification"

    def make_head(self, config):
        return heads.TokenClassificationHead(config, dtype=self.dtype_policy, name="classifier")

    def call_head(self, hidden, training):
        return {"logits": ops.cast(self.head(hidden, training=training), "float32")}


class ElectraForQuestionAnswering(ElectraModel):
    """Answer-span start and end logits per position."""

    head_type = "question_answering"

    def make_head(self, config):
        return heads.QuestionAnsweringHead(config, dtype=self.dtype_policy, name="qa_outputs")

    def call_head(self, hidden, training):
        start, end = self.head(hidden)
        return {"start_logits": ops.cast(start, "float32"), "end_logits": ops.cast(end, "float32")}


MODEL_CLASSES = {
    cls.head_type: cls
    for cls in (ElectraModel, ElectraForPreTraining, ElectraForMaskedLM, ElectraForSequenceClassification,
                ElectraForTokenClassification, ElectraForQuestionAnswering)
}


def build_model(config, head_type="encoder", **kwargs):
    """Builds (with all variables created) the model for `head_type`, one of `MODEL_CLASSES`."""
    if head_type not in MODEL_CLASSES:
        raise ValueError(f"Unknown head {head_type!r}; choose one of {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[head_type](config, **kwargs).build_now()
