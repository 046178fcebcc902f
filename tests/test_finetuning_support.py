"""Shared helpers for the fine-tuning tests: a WordPiece vocab trained on the fixtures and a tiny random
discriminator exported as a transformers directory (built once per process)."""

import functools
import glob
import json
import os
import tempfile

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "finetune")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def fixture_dir(task):
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


@functools.lru_cache(maxsize=None)
def vocab_file():
    """vocab.txt: the five specials first, then WordPiece learned from every fixture text."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True,
                                       handle_chinese_chars=True)
    tokenizer.train_from_iterator(list(_fixture_texts()), vocab_size=1200, min_frequency=1,
                                  special_tokens=SPECIALS, limit_alphabet=2000)
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    assert tokens[:5] == SPECIALS, tokens[:5]
    path = os.path.join(tempfile.mkdtemp(prefix="finetune_vocab_"), "vocab.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(tokens) + "\n")
    return path


def tiny_config(vocab_size):
    from electra_tf.config import ElectraConfig

    return ElectraConfig(vocab_size=vocab_size, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)


@functools.lru_cache(maxsize=None)
def init_checkpoint():
    """A randomly initialised tiny discriminator exported as a transformers directory (with vocab.txt)."""
    import keras

    from electra_tf.export import export_transformers
    from electra_tf.models import build_model

    with open(vocab_file(), encoding="utf-8") as handle:
        vocab_size = len(handle.read().splitlines())
    keras.utils.set_random_seed(0)
    model = build_model(tiny_config(vocab_size), "discriminator")
    directory = os.path.join(tempfile.mkdtemp(prefix="finetune_init_"), "tiny-discriminator")
    export_transformers(model, directory, vocab_file=vocab_file())
    return directory


def test_support_vocab_covers_fixture_text():
    from electra_tf.tokenization import FastTokenizer

    tokenizer = FastTokenizer.from_vocab_file(vocab_file())
    ids = tokenizer.encode("세종대왕은 조선의 제4대 왕으로 1418년에 즉위하였다.")
    assert tokenizer.unk_id not in ids
    assert os.path.exists(os.path.join(init_checkpoint(), "config.json"))
    assert os.path.exists(os.path.join(init_checkpoint(), "vocab.txt"))
