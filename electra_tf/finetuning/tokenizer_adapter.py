"""The tokenizer the fine-tuning tasks use: the package's `FastTokenizer`, under the name fine-tuning imports.

It gives what the tasks need explicitly: ids without special tokens (`encode_batch`), ids with character
offsets into the original text (`encode_with_offsets`, KorQuAD contexts, prepared as questions are), and the
one host pair assembler (`build_batch`: transformers' longest-first truncation, padding, a truncation count).
"""

from electra_tf.tokenization import FastTokenizer

TokenizerAdapter = FastTokenizer
