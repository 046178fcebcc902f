"""Tokenizers: WordPiece ones that give the ids of `transformers.ElectraTokenizer(vocab, do_lower_case=False)`,
and SentencePiece ones that give the ids of the exported ``tokenizer.json``.

One concern per module:

- `vocab_files`: reading and checking ``vocab.txt``, special-token ids, the files transformers loads.
- `characters`: transformers' character classes (from `unicodedata`) and the host-side text preparation.
- `pairs`: ``[CLS] A [SEP] (B [SEP])`` with ``longest_first`` truncation; `assemble_batch`, the one host
  assembler; `window_plan` / `window_batch`: long rows as overlapping windows.
- `host`: `FastTokenizer` (Hugging Face `tokenizers`, Rust) for preprocessing and fine-tuning features.
- `in_graph`: `InGraphTokenizer`, a Keras layer on `tensorflow-text` for `tf.data` and SavedModels.
- `lines`: `LineTokenizer`, many corpus lines at once (for `electra_tf.data`).
- `sp_files`, `sp_host`, `sp_in_graph`: SentencePiece vocabularies (the kind record, the model,
  ``tokenizer.json``) and their host and in-graph tokenizers.
- `lite`: `LiteWordPiece`, WordPiece with ops LiteRT runs (for `.tflite` models).
- `vocab_kinds`: the tokenizers and files of a ``vocab.txt`` path by its vocabulary's kind.

Both tokenizers reproduce transformers' BERT basic tokenizer with ``do_lower_case=False``: removed
characters (NUL, U+FFFD, "C*" but tab/newline/CR), NFC, splitting on whitespace, punctuation and CJK
ideographs isolated, the special tokens written in the text kept whole, over-long words → ``[UNK]``, no
lower-casing and no accent stripping (which would decompose Hangul into conjoining jamo).
"""

from electra_tf.tokenization.characters import (character_class_patterns, character_tables, is_isolated_char,
                                                is_removed_char, prepare_text)
from electra_tf.tokenization.host import FastTokenizer, HostTokenizer
from electra_tf.tokenization.in_graph import (DEFAULT_BUCKET_WIDTH, InGraphAssembly, InGraphTokenizer,
                                              bucketed_length)
from electra_tf.tokenization.lines import LineTokenizer
from electra_tf.tokenization.pairs import (MODEL_INPUT_NAMES, assemble_batch, longest_first_removals,
                                           pair_with_specials, window_batch, window_plan)
from electra_tf.tokenization.vocab_files import (CLS_TOKEN, MASK_TOKEN, PAD_TOKEN, SEP_TOKEN, SPECIAL_TOKENS,
                                                 TOKENIZER_FILES, UNK_TOKEN, check_vocab, load_checked_vocab,
                                                 load_vocab, save_wordpiece_files, special_token_ids)
from electra_tf.tokenization.sp_files import (MODEL_FILE, SENTENCEPIECE_FILES, SENTENCEPIECE_KINDS, VOCAB_KINDS,
                                              WORDPIECE, normalization_rules_tsv, save_sentencepiece_files,
                                              vocab_kind)
from electra_tf.tokenization.sp_host import SentencePieceTokenizer
from electra_tf.tokenization.sp_in_graph import InGraphSentencePiece
from electra_tf.tokenization.lite import LiteWordPiece
from electra_tf.tokenization.vocab_kinds import host_tokenizer, in_graph_tokenizer, lite_tokenizer, save_tokenizer_files
