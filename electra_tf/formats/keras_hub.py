"""keras-hub ELECTRA presets: the directory `ElectraBackbone.save_to_preset` and
`ElectraTokenizer.save_to_preset` write, read and written through keras-hub itself.

Layout: `config.json` (the registered class `keras_hub>ElectraBackbone` and its constructor arguments),
`model.weights.h5`, `metadata.json` and, with a vocabulary, `tokenizer.json` plus
`assets/tokenizer/vocabulary.txt`. `keras_hub.models.ElectraBackbone.from_preset(path)` loads it on any
Keras backend.

The backbone is the encoder only. Its variables hold the same numbers as ours: the attention projections are
split per head (``[hidden, heads, head_size]``, ``[heads, head_size, hidden]``), a reshape in both
directions, so a round trip is exact. What differs from transformers' ELECTRA:

- keras-hub's feed-forward layers use the tanh approximation of GELU. A model with ``hidden_act="gelu"``
  (exact, erf-based) exports with that small difference (stated in the log); an import keeps our config's
  ``"gelu"``. The tanh variants (``gelu_new``, ``gelu_fast``, ``gelu_pytorch_tanh``) map exactly.
- LayerNorm epsilon is fixed at 1e-12 and one `dropout` rate serves attention and hidden layers: a config
  that differs is refused. `initializer_range` (keras-hub fixes 0.02) only seeds fresh weights and is not
  carried; head fields do not apply.
- The backbone adds `pooled_dense` (tanh over the first token), which ELECTRA lacks: an export writes the
  identity kernel and a zero bias (`pooled_output` = tanh of the first hidden state); an import ignores it.

keras-hub is imported only inside the functions that need it (an optional heavy dependency).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.config import ElectraConfig
from electra_tf.tokenization import UNK_TOKEN, WORDPIECE, load_checked_vocab, vocab_kind

BACKBONE_NAME = "keras_hub>ElectraBackbone"
LAYER_NORM_EPSILON = 1e-12
TANH_GELU = ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")
EXACT_GELU = "gelu"

_EMBEDDINGS = {
    "electra/embeddings/word_embeddings/weight:0": "token_embedding/embeddings",
    "electra/embeddings/position_embeddings/embeddings:0": "position_embedding/embeddings",
    "electra/embeddings/token_type_embeddings/embeddings:0": "segment_embedding/embeddings",
    "electra/embeddings/LayerNorm/gamma:0": "embeddings_layer_norm/gamma",
    "electra/embeddings/LayerNorm/beta:0": "embeddings_layer_norm/beta",
}
_PROJECTION = {
    "electra/embeddings_project/kernel:0": "embeddings_projection/kernel",
    "electra/embeddings_project/bias:0": "embeddings_projection/bias",
}
_LAYER = {
    "attention/self/query": "self_attention_layer/query",
    "attention/self/key": "self_attention_layer/key",
    "attention/self/value": "self_attention_layer/value",
    "attention/output/dense": "self_attention_layer/attention_output",
    "attention/output/LayerNorm": "self_attention_layer_norm",
    "intermediate/dense": "feedforward_intermediate_dense",
    "output/dense": "feedforward_output_dense",
    "output/LayerNorm": "feedforward_layer_norm",
}
_SUFFIXES = {"kernel:0": "kernel", "bias:0": "bias", "gamma:0": "gamma", "beta:0": "beta"}
POOLER = ("pooled_dense/kernel", "pooled_dense/bias")
VOCABULARY_PATH = os.path.join("assets", "tokenizer", "vocabulary.txt")  # where ElectraTokenizer saves it
PRESET_FILES = ("config.json", "model.weights.h5", "metadata.json", "tokenizer.json")  # and assets/tokenizer/


def weight_names(config):
    """Our (transformers TF) weight name → keras-hub variable path, for every encoder weight of `config`."""
    names = dict(_EMBEDDINGS)
    if config.embedding_size != config.hidden_size:
        names.update(_PROJECTION)
    for index in range(config.num_hidden_layers):
        for ours, theirs in _LAYER.items():
            for suffix in ("kernel:0", "bias:0") if "LayerNorm" not in ours else ("gamma:0", "beta:0"):
                names[f"electra/encoder/layer_._{index}/{ours}/{suffix}"] = (
                    f"transformer_layer_{index}/{theirs}/{_SUFFIXES[suffix]}")
    return names


def backbone_arguments(config):
    """`ElectraBackbone` constructor arguments for `config`; raises ValueError for what keras-hub cannot hold.

    Returns `(arguments, note)`: `note` states the activation difference, or is None when the mapping is exact.
    """
    problems = []
    if config.layer_norm_eps != LAYER_NORM_EPSILON:
        problems.append(f"layer_norm_eps={config.layer_norm_eps} (keras-hub's ElectraBackbone fixes "
                        f"{LAYER_NORM_EPSILON})")
    if config.hidden_act not in (EXACT_GELU, *TANH_GELU):
        problems.append(f"hidden_act={config.hidden_act!r} (keras-hub's ElectraBackbone uses the tanh "
                        "approximation of GELU)")
    if config.hidden_dropout_prob != config.attention_probs_dropout_prob:
        problems.append(f"hidden_dropout_prob={config.hidden_dropout_prob} differs from "
                        f"attention_probs_dropout_prob={config.attention_probs_dropout_prob} (keras-hub has one "
                        "dropout rate)")
    if problems:
        raise ValueError("cannot export as a keras-hub ElectraBackbone: " + "; ".join(problems))
    note = None
    if config.hidden_act == EXACT_GELU:
        note = ("hidden_act 'gelu' (exact, erf-based) runs in keras-hub's ElectraBackbone as the tanh "
                "approximation of GELU: outputs differ slightly (see README, keras-hub)")
    arguments = dict(vocab_size=config.vocab_size, num_layers=config.num_hidden_layers,
                     num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
                     embedding_dim=config.embedding_size, intermediate_dim=config.intermediate_size,
                     dropout=config.hidden_dropout_prob, max_sequence_length=config.max_position_embeddings,
                     num_segments=config.type_vocab_size)
    return arguments, note


def config_from_backbone(arguments, source):
    """`ElectraConfig` for `ElectraBackbone` constructor arguments (as in a preset's `config.json`)."""
    try:
        return ElectraConfig(
            vocab_size=arguments["vocab_size"], embedding_size=arguments["embedding_dim"],
            hidden_size=arguments["hidden_dim"], num_hidden_layers=arguments["num_layers"],
            num_attention_heads=arguments["num_heads"], intermediate_size=arguments["intermediate_dim"],
            hidden_dropout_prob=arguments.get("dropout", 0.1),
            attention_probs_dropout_prob=arguments.get("dropout", 0.1),
            max_position_embeddings=arguments.get("max_sequence_length", 512),
            type_vocab_size=arguments.get("num_segments", 2), layer_norm_eps=LAYER_NORM_EPSILON)
    except KeyError as error:
        raise ValueError(f"{source}: ElectraBackbone config lacks {error.args[0]!r}") from error


def preset_class(path):
    """The registered class name in `path/config.json` when it is a keras-hub preset, else None."""
    config_path = os.path.join(path, "config.json")
    if not (tf.io.gfile.isdir(path) and tf.io.gfile.exists(config_path)):
        return None
    values = io_utils.read_json(config_path)
    name = values.get("registered_name") if isinstance(values, dict) else None
    return name if isinstance(name, str) and name.startswith("keras_hub>") else None


def preset_config(path):
    """The `ElectraConfig` of a keras-hub ELECTRA preset (its config.json only, no weights read)."""
    found = preset_class(path)
    if found != BACKBONE_NAME:
        raise ValueError(f"{path}/config.json: keras-hub preset of {found}, expected {BACKBONE_NAME}")
    return config_from_backbone(io_utils.read_json(os.path.join(path, "config.json")).get("config", {}),
                                f"{path}/config.json")


def read_preset(path):
    """Returns `(config, arrays)` of a keras-hub ELECTRA preset; `arrays` keyed by transformers TF names."""
    import keras_hub  # optional heavy dependency, only needed for this format

    config = preset_config(path)
    backbone = keras_hub.models.ElectraBackbone.from_preset(path)
    variables = {variable.path: variable for variable in backbone.weights}
    arrays = {}
    for ours, theirs in weight_names(config).items():
        if theirs not in variables:
            raise ValueError(f"{path}: the backbone has no variable {theirs!r}")
        value = keras.ops.convert_to_numpy(variables[theirs])
        arrays[ours] = value.reshape(_our_shape(ours, value.shape, config.hidden_size))
    return config, arrays


def _our_shape(name, shape, hidden_size):
    """Our shape for a keras-hub value: the attention weights merge their head axes."""
    if "/attention/output/dense/kernel" in name:
        return (hidden_size, hidden_size)
    if "/attention/self/" in name:
        return (hidden_size, hidden_size) if name.endswith("kernel:0") else (hidden_size,)
    return shape


def is_electra_preset(path):
    """Whether `path` is a keras-hub ElectraBackbone preset (an earlier export); False when unreadable."""
    try:
        return preset_class(path) == BACKBONE_NAME
    except ValueError:  # config.json is not JSON
        return False


def _preset_owned(relative):
    """Whether a preset export writes the file at `relative` (its files, the tokenizer's assets)."""
    return relative in PRESET_FILES or relative.startswith(os.path.dirname(VOCABULARY_PATH) + os.sep)


def write_preset(arrays, config, output_dir, vocab_file=None):
    """Writes encoder `arrays` (transformers TF names) as a keras-hub ElectraBackbone preset, with an
    `ElectraTokenizer` when `vocab_file` is given, at `output_dir`, atomically; an existing `output_dir` must
    be empty or an earlier ElectraBackbone preset, whose files that no preset export writes stay. Returns the
    activation note of `backbone_arguments` (None when exact), and says when a SentencePiece vocabulary was
    left out."""
    import keras_hub  # optional heavy dependency, only needed for this format

    arguments, note = backbone_arguments(config)
    io_utils.check_replaceable(output_dir, is_electra_preset, "keras-hub ElectraBackbone preset")
    tokenizer = None
    if vocab_file and vocab_kind(vocab_file) != WORDPIECE:
        note = ((note + "; ") if note else "") + ("keras-hub's ElectraTokenizer is WordPiece only: the preset has no "
                                                  f"tokenizer for the {vocab_kind(vocab_file)} vocabulary")
    elif vocab_file:
        tokenizer = keras_hub.models.ElectraTokenizer(
            vocabulary=load_checked_vocab(vocab_file), lowercase=False, special_tokens=[UNK_TOKEN],
            special_tokens_in_strings=True)
    backbone = keras_hub.models.ElectraBackbone(**arguments)
    variables = {variable.path: variable for variable in backbone.weights}
    for ours, theirs in weight_names(config).items():
        if ours not in arrays:
            raise ValueError(f"missing encoder weight {ours!r}")
        target = variables[theirs]
        target.assign(np.asarray(arrays[ours], dtype=np.float32).reshape(tuple(target.shape)))
    kernel, bias = (variables[name] for name in POOLER)
    kernel.assign(np.eye(config.hidden_size, dtype=np.float32))
    bias.assign(np.zeros(config.hidden_size, dtype=np.float32))
    with io_utils.atomic_directory(output_dir, keep=lambda relative: not _preset_owned(relative)) as directory:
        backbone.save_to_preset(directory)
        if tokenizer is not None:
            tokenizer.save_to_preset(directory)
    return note

