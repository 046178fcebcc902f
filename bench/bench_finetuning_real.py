"""Fine-tuning and test prediction on real task data (NSMC) at real lengths: electra_tf's fine-tuning loop (with
length buckets `bucket_width` 16 and 0 = off, each also under `--jit_compile`) vs transformers'
`TFElectraForSequenceClassification` trained with tf-keras `fit`, each batch padded to its longest row (what
`DataCollatorWithPadding` does) or to `max_seq_length`.

    python -m bench.bench_finetuning_real --data_dir /work/data/nsmc [--init DIR | --preset koelectra-small-v3]
        [--epochs 2 --max_seq_length 128 --batch_size 32 --lr 1.25e-4 --rounds 3] [--json_out results.json]

Data: `--data_dir` holding NSMC's ratings_train.txt / ratings_test.txt (as scripts/make_nsmc.py builds them), or
`--train` / `--test` TSV files of `text<TAB>label` rows (an optional `text<TAB>label` header); both are read by the
fine-tuning task readers (`electra_tf.finetuning.tasks`), so a bad row is an `error: FILE:LINE: …` line. `--train_rows` /
`--test_rows` keep the first rows only (smoke runs).
Init: `--init` is any directory `electra_tf.pretrained.load_pretrained` reads that transformers can load too (a
transformers directory with tf_model.h5 and vocab.txt); by default a random init of `--preset` with a WordPiece
vocabulary trained on the train texts (`electra_tf.vocab`, filled up with [unused] tokens to `--vocab_size`,
default the preset's), exported as a transformers directory with the classification head, so that both sides
start from the same weights, head included.

Both sides see the same token ids (our featurization), the same settings (`--config` file's nsmc section, then
the flags) and the same order of rows per epoch (`epoch_order`; ours may regroup rows into length buckets).
Optimizers: ours `TrainingStep` (AdamW as configured: the KoELECTRA config uses bias correction, no weight decay,
clip 1.0, linear decay); transformers `create_optimizer` (AdamWeightDecay, bias-corrected, the same learning rate,
warmup steps, linear decay to 0, weight decay rate and epsilon, global-norm clip). Each system runs in its own
process (`--worker`); the systems take turns per round, so that drift in the machine's speed hits all alike.
Ours runs under TF's default strategy (on the CPU the same input path as the CLI's default `one_device`).
Timed: training (every epoch's batches, first-call tracing included, no per-epoch evaluation or checkpoints) and
test-set prediction (input pipeline, model, argmax), each wall time in the worker; tokenization and model loading
are not timed. The medians over rounds are reported.
"""

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.common import ROOT, print_table
from electra_tf.finetuning.readers import BadRowError, RowErrors, read_lines
from electra_tf.finetuning.tasks import BINARY, Columns, SequenceTask, SplitData, get_task

REFERENCE = "transformers fit, dynamic padding"
TRANSFORMERS_SYSTEMS = {REFERENCE: "dynamic", "transformers fit, padded to max_seq_length": "padded"}
NSMC = get_task("nsmc")
TRAIN_FILE, TEST_FILE = NSMC.splits["train"], NSMC.splits["test"]
# `--train` / `--test` files: text and 0/1 label by column, or by name under a `text<TAB>label` header
TSV = SequenceTask("tsv", {}, ("accuracy",), BINARY, columns=Columns(text=0, label=1), has_header=False)
TSV_WITH_HEADER = dataclasses.replace(TSV, columns=Columns(text="text", label="label"), has_header=True)


def ours_systems(bucket_widths, jit):
    """{name: (bucket_width, jit_compile)} of our variants (a width of None: the installed default batching)."""
    systems = {}
    for width in bucket_widths:
        for jit_compile in ((False, True) if jit else (False,)):
            name = "electra_tf" + ("" if width is None else f", bucket_width {width}")
            systems[name + (", jit_compile" if jit_compile else "")] = (width, jit_compile)
    return systems


# Data and init ----------------------------------------------------------------------------------------------------

def _read_rows(task, path):
    """`(text, label)` rows of one file as `task`'s reader reads it (a bad row raises `BadRowError`)."""
    data = SplitData("train", path, [])
    rows = [(example.text_a, task.labels[example.label]) for example in task.read_file(path, RowErrors(path), data)]
    if not rows:
        raise BadRowError(f"{path}: no rows")
    return rows


def read_tsv(path):
    """`(text, label)` rows of a `text<TAB>label` file (an optional header line `text<TAB>label`)."""
    first = next(read_lines(path), (0, ""))[1]
    return _read_rows(TSV_WITH_HEADER if first.split("\t") == ["text", "label"] else TSV, path)


def read_nsmc(path):
    """`(text, label)` rows of an NSMC file (`id<TAB>document<TAB>label` with a header), read by the nsmc task."""
    return _read_rows(NSMC, path)


def write_nsmc(path, rows):
    """Writes `(text, label)` rows as an NSMC file (atomically)."""
    from electra_tf import io_utils

    with io_utils.atomic_file(path) as handle:
        handle.write("id\tdocument\tlabel\n")
        for index, (text, label) in enumerate(rows):
            handle.write(f"{index}\t{text}\t{label}\n")


def prepare_data(args, work_dir):
    """An NSMC-format data directory of the chosen rows (the given one when nothing is cut or converted)."""
    if args.data_dir and not (args.train_rows or args.test_rows):
        return args.data_dir
    if args.data_dir:
        train = read_nsmc(os.path.join(args.data_dir, TRAIN_FILE))
        test = read_nsmc(os.path.join(args.data_dir, TEST_FILE))
    else:
        train, test = read_tsv(args.train), read_tsv(args.test)
    data_dir = os.path.join(work_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    write_nsmc(os.path.join(data_dir, TRAIN_FILE), train[:args.train_rows or None])
    write_nsmc(os.path.join(data_dir, TEST_FILE), test[:args.test_rows or None])
    return data_dir


def make_init(train_texts, preset, vocab_size, output_dir, seed=0):
    """A random init of `preset` (classification head for labels 0/1) with a WordPiece vocabulary of `vocab_size`
    tokens (default: the preset's) trained on `train_texts`, as a transformers directory at `output_dir`."""
    import keras

    from electra_tf.config import ElectraConfig
    from electra_tf.export import export_transformers
    from electra_tf.finetuning.tasks.classification import BINARY
    from electra_tf.models import build_model
    from electra_tf.tokenization import save_tokenizer_files
    from electra_tf.vocab import build_vocab

    config = ElectraConfig.from_preset(preset)
    vocab_size = vocab_size or config.vocab_size
    vocab_dir = os.path.join(output_dir + ".vocab")
    os.makedirs(vocab_dir, exist_ok=True)
    texts_file = os.path.join(vocab_dir, "texts.txt")
    with open(texts_file, "w", encoding="utf-8") as handle:
        handle.writelines(text + "\n" for text in train_texts)
    tokens = build_vocab([texts_file], vocab_dir, vocab_size, show_progress=False)
    tokens += [f"[unused{index}]" for index in range(vocab_size - len(tokens))]  # the preset's table size
    vocab_file = save_tokenizer_files(tokens, vocab_dir)
    keras.utils.set_random_seed(seed)
    model = build_model(config.replace(vocab_size=len(tokens)).with_labels(BINARY), "sequence_classification")
    export_transformers(model, output_dir, vocab_file=vocab_file)
    return output_dir


# Workers (one system each, in its own process) -----------------------------------------------------------------

def load_settings(args, bucket_width=None):
    """The fine-tuning hparams: the config file's nsmc section, then the flags."""
    from electra_tf.finetuning.config import load_hparams

    overrides = {"num_train_epochs": args.epochs, "max_seq_length": args.max_seq_length,
                 "train_batch_size": args.batch_size, "learning_rate": args.lr}
    if bucket_width is not None:
        overrides["bucket_width"] = bucket_width
    return load_hparams(args.config, "nsmc", overrides)


def featurized(args, hparams):
    """(task, splits, features) of the nsmc task on `args.data_dir` with the init's vocabulary."""
    from electra_tf.finetuning import run as finetune_run
    from electra_tf.finetuning.tasks import get_task
    from electra_tf.tokenization import FastTokenizer

    task = get_task("nsmc")
    splits = finetune_run.read_splits(task, args.data_dir)
    tokenizer = FastTokenizer.from_vocab_file(finetune_run.resolve_vocab(args.init))
    features, _ = finetune_run.featurize_splits(task, splits, tokenizer, hparams)
    return task, splits, features


def run_ours(args, bucket_width, jit_compile):
    """Our fine-tuning loop (`train_epoch` for every epoch) and `FineTuner.predict` on the test split."""
    import keras
    import tensorflow as tf

    from electra_tf.finetuning import run as finetune_run
    from electra_tf.preemption import SigtermFlag

    hparams = load_settings(args, bucket_width)
    keras.utils.set_random_seed(hparams.seed)
    task, splits, features = featurized(args, hparams)
    strategy = tf.distribute.get_strategy()
    tuner = finetune_run.build_tuner(task, hparams, args.init, len(features["train"]), strategy, jit_compile)
    writer = tf.summary.create_noop_writer()
    start = time.perf_counter()
    with SigtermFlag() as preemption:
        losses = [finetune_run.train_epoch(tuner, features["train"], epoch, writer, False, None, {}, preemption)
                  for epoch in range(1, hparams.num_train_epochs + 1)]
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    outputs = tuner.predict(features["test"])
    predict_seconds = time.perf_counter() - start
    metrics, _ = task.evaluate(splits["test"].examples, features["test"], outputs)
    return {"train_seconds": train_seconds, "predict_seconds": predict_seconds, "accuracy": metrics["accuracy"],
            "train_losses": losses, "steps": int(tuner.step), "traces": dict(tuner.traces),
            "optimizer": f"electra_tf TrainingStep AdamW (bias_correction={hparams.adam_bias_correction})"}


def _batches(inputs, labels, order, batch_size, dynamic):
    """A tf.data pipeline of `order`'s rows in batches, each cut to its longest row when `dynamic`."""
    import tensorflow as tf

    rows = {key: value[order] for key, value in inputs.items()}
    if not dynamic:
        return tf.data.Dataset.from_tensor_slices((rows, labels[order])).batch(batch_size)
    lengths = rows["attention_mask"].sum(axis=1)
    ragged = {key: tf.RaggedTensor.from_tensor(value, lengths=lengths) for key, value in rows.items()}
    dataset = tf.data.Dataset.from_tensor_slices((ragged, labels[order])).ragged_batch(batch_size)
    return dataset.map(lambda x, y: ({key: value.to_tensor() for key, value in x.items()}, y))


def run_transformers(args, mode):
    """transformers' `TFElectraForSequenceClassification` + tf-keras `fit` / `predict`."""
    import tensorflow as tf
    import tf_keras
    import transformers

    from electra_tf.finetuning import loop as finetune_loop

    hparams = load_settings(args)
    tf_keras.utils.set_random_seed(hparams.seed)
    _, splits, features = featurized(args, hparams)
    train, test = features["train"], features["test"]
    per_epoch = finetune_loop.steps_per_epoch(len(train), hparams)
    total = per_epoch * hparams.num_train_epochs
    model = transformers.TFElectraForSequenceClassification.from_pretrained(args.init)
    optimizer, _ = transformers.create_optimizer(
        hparams.learning_rate, total, int(round(hparams.warmup_proportion * total)),
        adam_epsilon=hparams.adam_epsilon, adam_global_clipnorm=hparams.max_grad_norm,
        weight_decay_rate=hparams.weight_decay, power=hparams.lr_decay_power)
    model.compile(optimizer=optimizer)  # the model's own loss (labels as y)
    dynamic = mode == "dynamic"
    start = time.perf_counter()
    epochs = None
    for epoch in range(1, hparams.num_train_epochs + 1):
        order = finetune_loop.epoch_order(len(train), hparams.seed, epoch)[:per_epoch * hparams.train_batch_size]
        batches = _batches(train.inputs, train.labels["labels"], order, hparams.train_batch_size, dynamic)
        epochs = batches if epochs is None else epochs.concatenate(batches)
    history = model.fit(epochs.prefetch(tf.data.AUTOTUNE), epochs=hparams.num_train_epochs,
                        steps_per_epoch=per_epoch, verbose=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    order = np.arange(len(test))
    dataset = _batches(test.inputs, test.labels["labels"], order, hparams.eval_batch_size, dynamic)
    logits = model.predict(dataset.map(lambda x, y: x).prefetch(tf.data.AUTOTUNE), verbose=0)["logits"]
    predictions = np.asarray(logits).argmax(-1)
    predict_seconds = time.perf_counter() - start
    gold = np.array([example.label for example in splits["test"].examples])
    return {"train_seconds": train_seconds, "predict_seconds": predict_seconds,
            "accuracy": float((predictions == gold).mean()), "train_losses": history.history["loss"],
            "steps": int(optimizer.iterations.numpy()),
            "optimizer": "transformers create_optimizer AdamWeightDecay (bias-corrected)"}


def worker(args):
    """Runs one system (`--worker NAME`) and writes its result JSON to `--result_json`."""
    if args.worker in TRANSFORMERS_SYSTEMS:
        result = run_transformers(args, TRANSFORMERS_SYSTEMS[args.worker])
    else:
        result = run_ours(args, args.bucket_width, args.jit)
    with open(args.result_json, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


# The comparison ---------------------------------------------------------------------------------------------------

def has_bucket_width():
    """Whether the installed fine-tuning settings know `bucket_width`."""
    from electra_tf.finetuning.config import FinetuneHparams

    return "bucket_width" in FinetuneHparams.field_names()


def run_system(args, name, data_dir, init, work_dir, bucket_width=None, jit_compile=False):
    """One system's result dict (or {"error": ...}) from a worker process (`python -m` this module, run from the
    checkout, so its paths are made absolute)."""
    result_json = os.path.abspath(os.path.join(work_dir, "result.json"))
    if os.path.exists(result_json):
        os.remove(result_json)
    paths = {name: os.path.abspath(path) for name, path in (("data_dir", data_dir), ("init", init),
                                                             ("config", args.config))}
    command = [sys.executable, "-m", "bench.bench_finetuning_real", "--worker", name, "--data_dir", paths["data_dir"],
               "--init", paths["init"], "--result_json", result_json, "--config", paths["config"],
               "--epochs", str(args.epochs),
               "--max_seq_length", str(args.max_seq_length), "--batch_size", str(args.batch_size),
               "--lr", str(args.lr)]
    if bucket_width is not None:
        command += ["--bucket_width", str(bucket_width)]
    if jit_compile:
        command += ["--jit"]
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if process.returncode or not os.path.exists(result_json):
        tail = (process.stderr or process.stdout).strip().splitlines()[-5:]
        print(f"  {name}: FAILED (exit status {process.returncode}): " + " | ".join(tail), file=sys.stderr)
        return {"error": "\n".join(tail)}
    with open(result_json, encoding="utf-8") as handle:
        result = json.load(handle)
    print(f"  {name}: train {result['train_seconds']:.1f} s, predict {result['predict_seconds']:.1f} s, "
          f"accuracy {result['accuracy']:.4f} (process {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return result


def summarize(runs):
    """{name: medians over the rounds that succeeded} (None when none did)."""
    summary = {}
    for name, results in runs.items():
        good = [result for result in results if "error" not in result]
        if not good:
            summary[name] = None
            continue
        summary[name] = {key: statistics.median(result[key] for result in good)
                         for key in ("train_seconds", "predict_seconds", "accuracy")}
        summary[name]["rounds"] = len(good)
    return summary


def table_rows(summary):
    reference = summary.get(REFERENCE)
    rows = []
    for name, values in summary.items():
        if values is None:
            rows.append({"system": name, "train s": "failed"})
            continue
        row = {"system": name, "train s": f"{values['train_seconds']:.1f}",
               "predict s": f"{values['predict_seconds']:.2f}", "test accuracy": f"{values['accuracy']:.4f}"}
        if reference:
            row["train speed-up vs dynamic"] = f"{reference['train_seconds'] / values['train_seconds']:.2f}x"
            row["predict speed-up vs dynamic"] = f"{reference['predict_seconds'] / values['predict_seconds']:.2f}x"
            row["accuracy Δ vs dynamic"] = f"{100 * (values['accuracy'] - reference['accuracy']):+.2f} pt"
        rows.append(row)
    return rows


def length_report(data_dir, init, args):
    """Token lengths of the train split (mean, p95, padding share at max_seq_length)."""
    args.data_dir, args.init = data_dir, init
    _, _, features = featurized(args, load_settings(args))
    lengths = features["train"].inputs["attention_mask"].sum(axis=1)
    return {"train_rows": int(len(lengths)), "test_rows": int(len(features["test"])),
            "mean_tokens": float(lengths.mean()), "p95_tokens": float(np.percentile(lengths, 95)),
            "padding_at_max_seq_length": float(1 - lengths.mean() / args.max_seq_length)}


def compare(args):
    import tensorflow as tf

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="bench_finetuning_real_")
    os.makedirs(work_dir, exist_ok=True)
    data_dir = prepare_data(args, work_dir)
    init, init_name = args.init, args.init or args.preset  # (length_report sets args.init)
    if not init:
        train_texts = [text for text, _ in read_nsmc(os.path.join(data_dir, TRAIN_FILE))]
        init = make_init(train_texts, args.preset, args.vocab_size, os.path.join(work_dir, "init"), args.seed)
    widths = [int(width) for width in args.bucket_widths.split(",") if width != ""]
    if widths and not has_bucket_width():
        print(f"note: the installed electra_tf has no fine-tuning hparam bucket_width: the bucket_width "
              f"{'/'.join(map(str, widths))} variants are skipped; ours runs with today's batching",
              file=sys.stderr)
        widths = [None]
    systems = ours_systems(widths, not args.no_jit)
    all_names = list(TRANSFORMERS_SYSTEMS) + list(systems)
    chosen = [name for name in all_names if not args.systems or any(part in name for part in args.systems)]
    lengths = length_report(data_dir, init, args)
    print(f"data {data_dir}: {lengths}; init {init}", file=sys.stderr)
    runs = {name: [] for name in chosen}
    for round_index in range(args.rounds):
        print(f"round {round_index + 1}/{args.rounds}", file=sys.stderr)
        for name in chosen:
            width, jit_compile = systems.get(name, (None, False))
            runs[name].append(run_system(args, name, data_dir, init, work_dir, width, jit_compile))
    summary = summarize(runs)
    title = (f"NSMC fine-tuning ({lengths['train_rows']} train rows, {args.epochs} epochs) and test prediction "
             f"({lengths['test_rows']} rows), {init_name}, batch {args.batch_size}, "
             f"max_seq_length {args.max_seq_length} ({lengths['mean_tokens']:.1f} tokens mean, p95 "
             f"{lengths['p95_tokens']:.0f}), lr {args.lr:g}, median of {args.rounds} round(s), "
             f"{os.cpu_count()} CPUs, devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    print_table(title, table_rows(summary), ["system", "train s", "predict s", "test accuracy",
                                             "train speed-up vs dynamic", "predict speed-up vs dynamic",
                                             "accuracy Δ vs dynamic"])
    if args.json_out:
        from electra_tf import io_utils

        io_utils.write_json(args.json_out, {"title": title, "settings": vars(args), "data": lengths, "init": init,
                                            "summary": summary, "runs": runs})
        print(f"\nresults: {args.json_out}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", help="NSMC directory (ratings_train.txt, ratings_test.txt)")
    parser.add_argument("--train", help="train TSV (text<TAB>label), instead of --data_dir")
    parser.add_argument("--test", help="test TSV (text<TAB>label), instead of --data_dir")
    parser.add_argument("--train_rows", type=int, default=0, help="keep the first N train rows (0: all)")
    parser.add_argument("--test_rows", type=int, default=0, help="keep the first N test rows (0: all)")
    parser.add_argument("--init", help="transformers directory to start from (default: random --preset init)")
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--vocab_size", type=int, default=0, help="default init's vocabulary (0: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the default init's weights")
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "finetune", "koelectra-small-v3.json"),
                        help="fine-tuning config whose nsmc section gives the other settings")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1.25e-4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--bucket_widths", default="16,0", help="our variants (comma-separated)")
    parser.add_argument("--no_jit", action="store_true", help="skip our --jit_compile variants")
    parser.add_argument("--systems", nargs="*", help="run only systems whose name contains one of these")
    parser.add_argument("--work_dir", help="where the data cut, the init and worker results go (default: temp)")
    parser.add_argument("--json_out", help="write the results here as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result_json", help=argparse.SUPPRESS)
    parser.add_argument("--bucket_width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker and not args.data_dir and not (args.train and args.test):
        parser.error("give --data_dir, or --train and --test")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.worker:
            worker(args)
        else:
            compare(args)
    except (FileNotFoundError, ValueError) as error:  # bad data files (FILE:LINE: …) or settings
        sys.exit(f"error: {' '.join(str(error).split())}")


if __name__ == "__main__":
    main()
