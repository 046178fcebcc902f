"""Shared fixtures: quiet TensorFlow, random weights, a padded two-segment batch, the fine-tuning fixtures'
vocab and tiny discriminator and the sample corpus's shards (each built once per session, see `support.py`),
`run_commands` (commands run as forks of one process that imported TensorFlow), and `--cpu-durations`, each
test's CPU seconds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import support  # noqa: E402


def randomize_weights(model, seed=0, scale=0.05):
    """Gives every variable random values (biases and LayerNorm too, so no mapping hides behind zeros/ones)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        noise = rng.normal(0.0, scale, variable.shape).astype("float32")
        if variable.name == "gamma":
            noise += 1.0
        variable.assign(noise)
    return model


def padded_pair_batch(vocab_size, batch_size=3, sequence_length=24, seed=1):
    """A batch with two segments and padding (row i is shorter): `electra_tf.parity.sample_batch`."""
    from electra_tf.parity import sample_batch

    return sample_batch(vocab_size, batch_size, sequence_length, seed)


# --- built once per session (read-only for the tests that use them) -----------------------------------------

@pytest.fixture(scope="session")
def finetune_vocab(tmp_path_factory):
    """vocab.txt: the five specials, then WordPiece learned from every fine-tuning fixture text."""
    return support.shared_directory(tmp_path_factory, "finetune_vocab", support.write_finetune_vocab)


@pytest.fixture(scope="session")
def init_checkpoint(tmp_path_factory, finetune_vocab):
    """A randomly initialised tiny discriminator exported as a transformers directory (with vocab.txt)."""
    return support.shared_directory(tmp_path_factory, "tiny-discriminator",
                                    lambda directory: support.write_init_checkpoint(directory, finetune_vocab))


@pytest.fixture(scope="session")
def pretraining_shards(tmp_path_factory):
    """The sample corpus as length-64 pre-training shards (with stats.json) built with the sample vocab."""
    return support.shared_directory(tmp_path_factory, "pretraining_shards", support.write_pretraining_shards)


@pytest.fixture(scope="session")
def released_model(tmp_path_factory):
    """A random-weight "released" model (`support.RELEASED_HPARAMS`, sample vocabulary): {"discriminator": DIR,
    "generator": DIR}, transformers directories with vocab.txt."""
    return support.shared_directory(tmp_path_factory, "released_model",
                                    lambda directory: support.write_released_model(directory, randomize_weights))


_COMMAND_RUNNERS = []  # their CPU seconds count for the tests that use them (see `_cpu_now`)


@pytest.fixture(scope="session")
def sentencepiece_vocabs(tmp_path_factory):
    """Both SentencePiece kinds trained once per session on the sample corpus: {kind: vocab.txt path}."""
    return support.shared_directory(tmp_path_factory, "sentencepiece_vocabs", support.write_sentencepiece_vocabs)


@pytest.fixture(scope="session")
def run_commands(tmp_path_factory):
    """`support.CommandRunner.run` of this process's runner: ``run_commands({key: ["-m", MODULE, ...]})`` gives
    ``{key: CompletedProcess}``, each command run in a fork of one process that has imported TensorFlow."""
    runner = support.CommandRunner(str(tmp_path_factory.getbasetemp() / "forked_commands.log"))
    _COMMAND_RUNNERS.append(runner)
    yield runner.run
    runner.close()


# --- per-test CPU seconds ------------------------------------------------------------------------------------
# Wall seconds are noisy on a shared machine; CPU seconds (this process and its finished children) compare
# between runs. `--cpu-durations=N` prints the N costliest tests and the total (also under pytest-xdist).

_CPU_SECONDS = {}


def _cpu_now():
    """CPU seconds used so far by this process, its waited-for children and the running `run_commands` process."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    forked = sum(runner.cpu_seconds() for runner in _COMMAND_RUNNERS)
    return time.process_time() + children.ru_utime + children.ru_stime + forked


def pytest_addoption(parser):
    parser.addoption("--cpu-durations", type=int, default=0, metavar="N",
                     help="print the N tests that used the most CPU seconds (setup, call and teardown) and the total")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    item.cpu_start = _cpu_now()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "teardown" and hasattr(item, "cpu_start"):
        outcome.get_result().user_properties.append(("cpu_seconds", _cpu_now() - item.cpu_start))


def pytest_runtest_logreport(report):
    for key, value in report.user_properties:
        if key == "cpu_seconds" and report.when == "teardown":
            _CPU_SECONDS[report.nodeid] = value


def pytest_terminal_summary(terminalreporter, config):
    count = config.getoption("--cpu-durations")
    if not count or not _CPU_SECONDS:
        return
    ranked = sorted(_CPU_SECONDS.items(), key=lambda item: item[1], reverse=True)
    terminalreporter.write_sep("=", f"{min(count, len(ranked))} costliest tests in CPU seconds")
    for nodeid, seconds in ranked[:count]:
        terminalreporter.write_line(f"{seconds:8.2f}s cpu  {nodeid}")
    terminalreporter.write_line(f"total: {sum(_CPU_SECONDS.values()):.1f} CPU seconds over {len(ranked)} tests")
