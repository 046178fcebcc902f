"""What the shared test fixtures build (a helper module, not a test module; `conftest.py` turns it into fixtures):
paths of the fine-tuning fixtures, a WordPiece vocab learned from them, a tiny random discriminator exported as a
transformers directory, and `shared_directory`, which builds a directory once per test session, also across
pytest-xdist workers."""

import contextlib
import fcntl
import glob
import json
import os
import shutil

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "finetune")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
SAMPLE_CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def fixture_dir(task):
    """tests/fixtures/finetune/TASK: a few rows of the task's files."""
    return os.path.join(FIXTURES, task)


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
