"""KorQuAD 1.0 (SQuAD v1 JSON) and SQuAD-v2-style files with unanswerable questions (KLUE-MRC): reading,
sliding-window features and n-best answer decoding.

Contexts are tokenized once with character offsets into the original context (prepared like questions, so
their ids are transformers'), so an answer maps to sub-tokens exactly and a predicted span maps back to the
exact characters of the context (no whitespace re-alignment needed).
"""

import dataclasses
import json

import numpy as np
import tensorflow as tf

from electra_tf.finetuning.readers import BadRowError, require_file


@dataclasses.dataclass
class SquadExample:
    qid: str
    question: str
    context: str
    answers: list  # [(text, answer_start)]; empty when the file has no answers
    title: str = ""
    unanswerable: bool = False  # the file marks the question impossible (`is_impossible`): "" is its answer


def read_squad_json(path, errors, id_field="id"):
    """Yields a `SquadExample` per question (its id in `id_field`: KLUE-MRC calls it `guid`); a malformed
    question is reported as `path:data[i].paragraphs[j].qas[k] (question id ...): reason`."""
    require_file(path)
    with tf.io.gfile.GFile(path, "r") as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRowError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise BadRowError(f"{path}:1: expected a SQuAD JSON object with a 'data' list")
    seen = set()
    for i, article in enumerate(document["data"]):
        for j, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context")
            for k, qa in enumerate(paragraph.get("qas", [])):
                where = f"data[{i}].paragraphs[{j}].qas[{k}]"
                if not isinstance(context, str):
                    errors.bad(where, "paragraph has no context string")
                    continue
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or id_field not in qa:
                    errors.bad(where, f"question needs {id_field!r} and 'question'")
                    continue
                qid = str(qa[id_field])
                where = f"{where} (question id {qid!r})"
                if qid in seen:
                    errors.bad(where, "duplicate question id")
                    continue
                answers, problem = [], None
                for answer in qa.get("answers", []):
                    try:
                        answer_text, start = str(answer["text"]), int(answer["answer_start"])
                    except (KeyError, TypeError, ValueError):
                        problem = "answer needs 'text' and an integer 'answer_start'"
                        break
                    if not answer_text or start < 0 or start + len(answer_text) > len(context):
                        problem = (f"answer {answer_text!r} at answer_start {start} is not within the "
                                   f"{len(context)}-character context")
                        break
                    if context[start:start + len(answer_text)] != answer_text:
                        problem = (f"answer {answer_text!r} is not at answer_start {start} of the context "
                                   f"(found {context[start:start + len(answer_text)]!r})")
                        break
                    answers.append((answer_text, start))
                if problem:
                    errors.bad(where, problem)
                    continue
                seen.add(qid)
                yield SquadExample(qid, qa["question"], context, answers, article.get("title", ""),
                                   bool(qa.get("is_impossible", False)))


@dataclasses.dataclass
class SquadFeatures:
    inputs: dict
    labels: dict
    truncated: int  # questions cut to max_query_length
    example_index: np.ndarray  # feature → example
    doc_offset: np.ndarray  # feature → sequence position of its first context token
    window_start: np.ndarray  # feature → index of its first context token within the context's tokens
    window_length: np.ndarray
    max_context: list  # feature → bool array over its window: is this the token's best window
    context_offsets: list  # example → [(char_start, char_end)] per context token


def _windows(doc_length, max_tokens, doc_stride):
    windows, start = [], 0
    while True:
        length = min(doc_length - start, max_tokens)
        windows.append((start, length))
        if start + length >= doc_length:
            return windows
        start += min(length, doc_stride)


def _max_context(windows):
    """Per window, whether each of its tokens has its most central position there (the original's rule)."""
    best = {}
    for index, (start, length) in enumerate(windows):
        for position in range(start, start + length):
            score = min(position - start, start + length - 1 - position) + 0.01 * length
            if position not in best or score > best[position][0]:
                best[position] = (score, index)
    return [np.array([best[p][1] == index for p in range(start, start + length)], bool)
            for index, (start, length) in enumerate(windows)]


def _char_to_token_span(offsets, char_start, char_end):
    """First and last token overlapping `[char_start, char_end)`, or None."""
    start = next((i for i, (s, e) in enumerate(offsets) if e > char_start), None)
    end = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < char_end), None)
    if start is None or end is None or end < start:
        return None
    return start, end


def featurize(examples, tokenizer, max_seq_length, doc_stride, max_query_length, training=False):
    """`[CLS] question [SEP] context-window [SEP]` features; windows slide by `doc_stride` tokens. Training
    labels point at the answer's first/last sub-token, or at [CLS] (0) when the window lacks the answer."""
    questions = tokenizer.encode_batch([example.question for example in examples])
    contexts = {}
    for example in examples:
        contexts.setdefault(example.context, None)
    unique = list(contexts)
    for context, encoded in zip(unique, tokenizer.encode_with_offsets(unique)):
        contexts[context] = encoded
    firsts, seconds = [], []  # per feature: the question's ids, the window's ids
    starts, ends, example_index, doc_offset, window_start, window_length, max_context = [], [], [], [], [], [], []
    context_offsets, truncated = [], 0
    for index, (example, question) in enumerate(zip(examples, questions)):
        if len(question) > max_query_length:
            question = question[:max_query_length]
            truncated += 1
        doc_ids, offsets = contexts[example.context]
        context_offsets.append(offsets)
        max_tokens = max_seq_length - len(question) - 3
        if max_tokens < 1:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for the context after a "
                             f"{len(question)}-token question")
        answer_span = None
        if training and example.answers:
            text, char_start = example.answers[0]
            answer_span = _char_to_token_span(offsets, char_start, char_start + len(text))
        windows = _windows(len(doc_ids), max_tokens, doc_stride) if doc_ids else [(0, 0)]
        for (start, length), is_max in zip(windows, _max_context(windows)):
            firsts.append(question)
            seconds.append(doc_ids[start:start + length])
            offset = len(question) + 2  # [CLS] question [SEP]
            start_position = end_position = 0
            if answer_span and start <= answer_span[0] and answer_span[1] < start + length:
                start_position = answer_span[0] - start + offset
                end_position = answer_span[1] - start + offset
            starts.append(start_position)
            ends.append(end_position)
            example_index.append(index)
            doc_offset.append(offset)
            window_start.append(start)
            window_length.append(length)
            max_context.append(is_max)
    ids, types, mask, _ = tokenizer.build_batch(firsts, seconds, max_seq_length)  # fits: nothing is cut
    inputs = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    labels = {"start_positions": np.asarray(starts, np.int32), "end_positions": np.asarray(ends, np.int32)}
    return SquadFeatures(inputs, labels, truncated, np.asarray(example_index), np.asarray(doc_offset),
                         np.asarray(window_start), np.asarray(window_length), max_context, context_offsets)


def decode_answers(examples, features, start_logits, end_logits, n_best_size=20, max_answer_length=30,
                   null_answers=False):
    """Best answer text per question id: among the `n_best_size` top start and end logits of every window's
    tokens (padding positions never rank, so the answer does not depend on how far a row was padded), the valid
    span (inside the context, end ≥ start, at most `max_answer_length` tokens, start in its most central
    window) with the highest start + end logit; "" when no span is valid, or (`null_answers`, SQuAD 2.0's rule)
    when some window's [CLS] start + end logit beats that span's."""
    by_example = {}
    for feature, index in enumerate(features.example_index):
        by_example.setdefault(int(index), []).append(feature)
    predictions = {}
    for index, example in enumerate(examples):
        best_score, best_span, null_score = None, None, None
        offsets = features.context_offsets[index]
        for feature in by_example.get(index, []):
            offset = int(features.doc_offset[feature])
            length = int(features.window_length[feature])
            window = int(features.window_start[feature])
            tokens = offset + length + 1  # [CLS] question [SEP] window [SEP]
            start_row, end_row = start_logits[feature][:tokens], end_logits[feature][:tokens]
            top_starts = np.argsort(-start_row, kind="stable")[:n_best_size]
            top_ends = np.argsort(-end_row, kind="stable")[:n_best_size]
            if null_answers:
                null_score = max(float(start_row[0] + end_row[0]), null_score if null_score is not None else -np.inf)
            for start in top_starts:
                if not offset <= start < offset + length:
                    continue
                if not features.max_context[feature][start - offset]:
                    continue
                for end in top_ends:
                    if end < start or end >= offset + length or end - start + 1 > max_answer_length:
                        continue
                    score = float(start_row[start] + end_row[end])
                    if best_score is None or score > best_score:
                        best_score = score
                        best_span = (window + start - offset, window + end - offset)
        if best_span is None or (null_score is not None and null_score > best_score):
            predictions[example.qid] = ""
        else:
            predictions[example.qid] = example.context[offsets[best_span[0]][0]:offsets[best_span[1]][1]]
    return predictions
