"""What the shared test fixtures build (a helper module, not a test module; `conftest.py` turns it into fixtures):
paths of the fine-tuning fixtures, a WordPiece vocab learned from them, a tiny random discriminator exported as a
transformers directory, and `shared_directory`, which builds a directory once per test session, also across
pytest-xdist workers, and `CommandRunner`, which runs commands as forks of one process that imported TensorFlow."""

import contextlib
import csv
import fcntl
import glob
import json
import os
import select
import shutil
import subprocess
import sys

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "finetune")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
SAMPLE_CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FORKED_COMMANDS = os.path.join(ROOT, "tests", "scripts", "forked_commands.py")


def fixture_dir(task):
    """tests/fixtures/finetune/TASK: a few rows of the task's files."""
    return os.path.join(FIXTURES, task)


def write_topic_splits(directory, count, stride=7):
    """train/dev/test CSVs (id, sentence, topic) of `count` rows each, cycling the generic fixture's rows
    `stride` apart (a different start per split); returns the directory."""
    with open(os.path.join(fixture_dir("generic"), "train.csv"), encoding="utf-8") as handle:
        source = list(csv.reader(handle))[1:]
    for split in ("train", "dev", "test"):
        with open(os.path.join(directory, f"{split}.csv"), "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "sentence", "topic"])
            for index in range(count):
                _, sentence, topic = source[(index * stride + len(split)) % len(source)]
                writer.writerow([f"{split}-{index}", sentence, topic])
    return str(directory)


SENTENCEPIECE_KINDS = ("sentencepiece-unigram", "sentencepiece-bpe")
SENTENCEPIECE_VOCAB_SIZE = 1200
SENTENCEPIECE_LINES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "sentencepiece",
                                   "lines.txt")


def sentencepiece_lines():
    """The Korean lines of the SentencePiece fixture (written for this project), one per line."""
    with open(SENTENCEPIECE_LINES, encoding="utf-8") as handle:
        return handle.read().split("\n")[:-1]


def write_sentencepiece_vocabs(directory):
    """Both SentencePiece kinds (1,200 pieces, 3 [unused]) trained on the sample corpus: {kind: vocab.txt}."""
    from electra_tf.vocab import build_sentencepiece_vocab

    paths = {}
    for kind in SENTENCEPIECE_KINDS:
        build_sentencepiece_vocab(SAMPLE_CORPUS, os.path.join(directory, kind), SENTENCEPIECE_VOCAB_SIZE, kind,
                                  num_unused=3, show_progress=False)
        paths[kind] = os.path.join(directory, kind, "vocab.txt")
    return paths


def _fixture_texts():
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*", "*"))):
        if os.path.isdir(path):  # glue/<Task>/: English GLUE fixtures stay out of the (Korean) vocab
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if path.endswith(".json"):
            for article in json.loads(text)["data"]:
                for paragraph in article["paragraphs"]:
                    yield paragraph["context"]
                    for qa in paragraph["qas"]:
                        yield qa["question"]
        else:
            yield from text.splitlines()


def write_finetune_vocab(directory):
    """DIRECTORY/vocab.txt: the five specials first, then WordPiece learned from every fixture text."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True,
                                       handle_chinese_chars=True)
    tokenizer.train_from_iterator(list(_fixture_texts()), vocab_size=1200, min_frequency=1,
                                  special_tokens=SPECIALS, limit_alphabet=2000)
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    assert tokens[:5] == SPECIALS, tokens[:5]
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(tokens) + "\n")
    return path


def tiny_config(vocab_size):
    """The fine-tuning tests' discriminator: 2 layers of width 64."""
    from electra_tf.config import ElectraConfig

    return ElectraConfig(vocab_size=vocab_size, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)


def write_init_checkpoint(directory, vocab_file):
    """DIRECTORY: a randomly initialised (seed 0) tiny discriminator exported as a transformers directory."""
    import keras

    from electra_tf.export import export_transformers
    from electra_tf.models import build_model

    with open(vocab_file, encoding="utf-8") as handle:
        vocab_size = len(handle.read().splitlines())
    keras.utils.set_random_seed(0)
    model = build_model(tiny_config(vocab_size), "discriminator")
    export_transformers(model, directory, vocab_file=vocab_file)
    return directory


# The released model of the continued pre-training tests (tests/test_vocab_extension.py, the domain-adapt recipe):
# the tiny preset with a narrower feed-forward and a quarter-width generator (configs/pretrain/tiny.json's is
# half-width), so that a run built with the tiny preset's shape instead of the released one cannot load it.
RELEASED_HPARAMS = {"train_steps": 2, "generator_hidden_size": 0.25, "model_overrides": {"intermediate_size": 192}}


def released_shape_run(model_dir, tokens):
    """A fresh `loop.PretrainingRun` in `model_dir` of the released model's shape (`RELEASED_HPARAMS`) over the
    vocabulary `tokens`, its configs written."""
    import tensorflow as tf

    from electra_tf import rundir
    from electra_tf.pretraining import loop
    from electra_tf.pretraining.config import PretrainingConfig
    from electra_tf.tokenization import special_token_ids

    config = PretrainingConfig.from_json_file(os.path.join(ROOT, "configs", "pretrain", "tiny.json"),
                                              RELEASED_HPARAMS)
    discriminator_config = config.discriminator_config(vocab_size=len(tokens))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    return loop.PretrainingRun(config, discriminator_config, special_token_ids(tokens), model_dir,
                               tf.distribute.get_strategy())


def write_released_model(directory, randomize):
    """DIRECTORY/released/{discriminator,generator}: a run of the released shape over the sample vocabulary, its
    weights set by `randomize(model, seed=...)`, exported as transformers directories; returns {network: path}."""
    from electra_tf.pretraining import transfer
    from electra_tf.tokenization import load_vocab

    source = released_shape_run(os.path.join(directory, "source"), load_vocab(SAMPLE_VOCAB))
    randomize(source.pretrainer.discriminator, seed=1)
    randomize(source.pretrainer.generator.head, seed=2)
    return transfer.export(source, SAMPLE_VOCAB, os.path.join(directory, "released"))


def write_pretraining_shards(directory, max_seq_length=64):
    """DIRECTORY/corpus: the sample corpus as pre-training shards with the sample vocab; returns that path."""
    from electra_tf.data.build_pretraining_data import build_pretraining_data

    output = os.path.join(directory, "corpus")
    build_pretraining_data([SAMPLE_CORPUS], SAMPLE_VOCAB, output, max_seq_length=max_seq_length, progress=False)
    return output


@contextlib.contextmanager
def _locked(path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_directory(tmp_path_factory, name, build):
    """The directory `build(directory)` filled, built once per session: in the session's base temp directory,
    or, under pytest-xdist, in the parent all workers of this run share (under a lock, so one worker builds and
    the others wait). `build`'s return value is returned (it must be a path or JSON-serializable)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    shared = os.path.join(str(root), "shared")
    os.makedirs(shared, exist_ok=True)
    target = os.path.join(shared, name)
    result_file = target + ".result.json"
    with _locked(target + ".lock"):
        if not os.path.exists(result_file):  # not built yet, or a build that failed: build it (again)
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            result = build(target)
            with open(result_file + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(result, handle)
            os.replace(result_file + ".tmp", result_file)
        with open(result_file, encoding="utf-8") as handle:
            return json.load(handle)


def environment_without_tf_log_level():
    """This process's environment less ``TF_CPP_MIN_LOG_LEVEL``, so TensorFlow's C++ logs at its default level, as
    in a user's shell (the start-up lines it prints differ between CPUs and must stay held back)."""
    return {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}


class CommandRunner:
    """Runs `python ARGS` commands in forks of one `tests/scripts/forked_commands.py` process (TensorFlow imported
    once, ~5.5 CPU-seconds, instead of once per command); see that script for what a fork cannot show.

    That process starts on the first `run` with this process's environment less ``TF_CPP_MIN_LOG_LEVEL`` (so
    TensorFlow's C++ logs at its default level, as a user's command would), and its stderr goes to `log_path`.
    """

    def __init__(self, log_path):
        self.log_path = log_path
        self.process = None

    def _start(self):
        env = environment_without_tf_log_level()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, FORKED_COMMANDS], cwd=ROOT, env=env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                            encoding="utf-8")

    def run(self, commands, cwd=ROOT, env=None, timeout=300):
        """``{key: subprocess.CompletedProcess}`` of ``{key: args}`` (args as after ``python``: ``["-m", MODULE,
        ...]`` or ``[SCRIPT, ...]``), run concurrently in `cwd` with `env` (default: this process's environment)."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        request = {"commands": {str(key): [str(arg) for arg in args] for key, args in commands.items()},
                   "cwd": os.path.abspath(cwd), "env": dict(os.environ if env is None else env), "timeout": timeout}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            # it kills a command after `timeout`; this bounds the wait should it hang itself
            ready, _, _ = select.select([self.process.stdout], [], [], timeout * len(commands) + 60)
            answer = self.process.stdout.readline() if ready else ""
        except BrokenPipeError:
            answer = ""
        if not answer:
            self.process.kill()
            self.close()
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                raise RuntimeError(f"{FORKED_COMMANDS} gave no answer; its stderr:\n{log.read()[-3000:]}")
        keys = {str(key): key for key in commands}
        return {keys[name]: subprocess.CompletedProcess([sys.executable, *request["commands"][name]],
                                                        result["returncode"], result["stdout"], result["stderr"])
                for name, result in json.loads(answer).items()}

    def cpu_seconds(self):
        """CPU seconds used so far by the running process and its finished forks (0 once `close` reaped it: from
        then on `resource.RUSAGE_CHILDREN` counts them), read from /proc (0 where there is none)."""
        if self.process is None:
            return 0.0
        try:
            with open(f"/proc/{self.process.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

    def close(self):
        """Ends the process (the end of its input ends it) and reaps it."""
        if self.process is None:
            return
        process, self.process = self.process, None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
