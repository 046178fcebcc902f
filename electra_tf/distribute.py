"""Distribution strategies and precision policy from command-line flags (shared by the run scripts)."""

import keras
import tensorflow as tf
from absl import flags, logging

STRATEGIES = ["one_device", "mirrored", "multi_worker_mirrored", "tpu"]
PRECISIONS = ["float32", "mixed_bfloat16", "mixed_float16"]


def define_flags():
    """Defines the distribution and precision flags on absl's FLAGS."""
    flags.DEFINE_enum("distribution_strategy", "one_device", STRATEGIES, "How to spread training.")
    flags.DEFINE_string("tpu", None, "TPU name or grpc address (with --distribution_strategy=tpu).")
    flags.DEFINE_string("tpu_zone", None, "GCE zone of the TPU.")
    flags.DEFINE_string("gcp_project", None, "GCP project of the TPU.")
    flags.DEFINE_enum("mixed_precision", None, PRECISIONS,
                      "Keras dtype policy; default: mixed_bfloat16 on TPU, float32 elsewhere.")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")


def get_strategy(name, tpu=None, tpu_zone=None, gcp_project=None):
    """Returns the `tf.distribute` strategy called `name`."""
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu or "", zone=tpu_zone, project=gcp_project)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    raise ValueError(f"Unknown distribution_strategy {name!r}; choose one of {STRATEGIES}")


def is_chief(strategy):
    """True on the worker that owns the outputs (every single-machine strategy; task 0 or the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster or resolver.task_type in (None, "chief", "tpu_worker"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def default_precision(strategy_name):
    """The policy used when --mixed_precision is not given: bfloat16 is the TPU's native matmul type."""
    return "mixed_bfloat16" if strategy_name == "tpu" else "float32"


def strategy_from_flags(values):
    """The strategy the flags name, with the global mixed-precision policy set (see `log_strategy`)."""
    strategy = get_strategy(values.distribution_strategy, values.tpu, values.tpu_zone, values.gcp_project)
    keras.mixed_precision.set_global_policy(values.mixed_precision or default_precision(values.distribution_strategy))
    return strategy


def log_strategy(strategy):
    """Logs the strategy, its replicas and the policy; called once the inputs are checked, so a user error's
    `error:` line is the only line it prints."""
    logging.info("Strategy %s with %d replicas, policy %s", type(strategy).__name__,
                 strategy.num_replicas_in_sync, keras.mixed_precision.global_policy().name)
