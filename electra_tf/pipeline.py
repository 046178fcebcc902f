"""The whole pipeline on the bundled sample data, one command: `python -m electra_tf.pipeline --work_dir DIR`.

clean + vocab → TFRecords → tiny pre-training → transformers export (and parity check in transformers) →
fine-tuning on the sample NSMC set (which also writes the SavedModel) → one `predict_text` call. Each stage runs the project's own
command line in a subprocess (exactly what a user would type, printed before it runs) and is skipped when its
output already exists, so an interrupted run continues where it stopped. A summary table ends the run.
"""

import os
import subprocess
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS

SAMPLE_SENTENCES = ["배우들 연기가 정말 훌륭하고 이야기도 감동적이었어요", "시간이 아까울 정도로 지루하고 뻔한 영화였다"]


def _stages(work):
    python = sys.executable
    vocab_dir, corpus_dir = os.path.join(work, "vocab"), os.path.join(work, "corpus")
    pretrain_dir, finetune_dir = os.path.join(work, "pretrain"), os.path.join(work, "finetune")
    serving_dir = os.path.join(finetune_dir, "saved_model")
    pretrain = [python, "run_pretraining.py", "--config=configs/pretrain/tiny.json", f"--data_dir={corpus_dir}",
                f"--vocab={vocab_dir}/vocab.txt",
                f"--model_dir={pretrain_dir}"] + ([f"--hparams={FLAGS.hparams}"] if FLAGS.hparams else [])
    return [
        ("vocabulary", os.path.join(vocab_dir, "vocab.txt"),
         [python, "-m", "electra_tf.vocab", f"--input={FLAGS.corpus}", f"--output_dir={vocab_dir}",
          f"--vocab_size={FLAGS.vocab_size}", "--num_unused=20", "--pretokenizer=mecab", "--cleaning=koelectra"]),
        ("tfrecords", os.path.join(corpus_dir, "stats.json"),
         [python, "-m", "electra_tf.data.build_pretraining_data", f"--input={FLAGS.corpus}",
          f"--vocab={vocab_dir}/vocab.txt", f"--output_dir={corpus_dir}", "--max_seq_length=64",
          "--cleaning=koelectra"]),
        ("pre-training", os.path.join(pretrain_dir, "export", "generator", "config.json"), pretrain),
        ("transformers parity", os.path.join(work, "parity.txt"),
         [python, "-m", "electra_tf.parity", f"--model_dir={pretrain_dir}/export/discriminator",
          f"--model_dir={pretrain_dir}/export/generator", f"--output={work}/parity.txt"]),
        ("fine-tuning", os.path.join(finetune_dir, "saved_model", "1", "saved_model.pb"),
         [python, "run_finetuning.py", "--task=nsmc", "--config=configs/finetune/tiny.json",
          f"--init_checkpoint={pretrain_dir}/export/discriminator", f"--data_dir={FLAGS.finetune_data}",
          f"--output_dir={finetune_dir}"]),
        ("predict_text", os.path.join(work, "prediction.txt"),
         [python, "-m", "electra_tf.serving", f"--saved_model_dir={serving_dir}",
          *[f"--text={sentence}" for sentence in SAMPLE_SENTENCES], f"--output={work}/prediction.txt"]),
    ]


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("work_dir", "runs/demo", "Where every stage writes its output.")
    flags.DEFINE_string("corpus", "data/sample_corpus.txt", "Pre-training text (one sentence per line).")
    flags.DEFINE_string("finetune_data", "data/sample_nsmc", "NSMC-format directory for the fine-tuning stage.")
    flags.DEFINE_integer("vocab_size", 4000, "Vocabulary size for the sample corpus.")
    flags.DEFINE_string("hparams", None, "JSON overrides for the tiny pre-training preset.")


def main(argv):
    del argv
    rows = []
    for name, output, command in _stages(FLAGS.work_dir):
        if os.path.exists(output):
            rows.append((name, "skipped (done)", 0.0, output))
            continue
        print(f"\n=== {name}: {' '.join(command)}", flush=True)
        start = time.time()
        result = subprocess.run(command)
        seconds = time.time() - start
        if result.returncode != 0:
            rows.append((name, f"FAILED (exit {result.returncode})", seconds, ""))
            _print_summary(rows)
            sys.exit(result.returncode)
        rows.append((name, "done", seconds, output))
    _print_summary(rows)
    for report in ("parity.txt", "prediction.txt"):
        with open(os.path.join(FLAGS.work_dir, report), encoding="utf-8") as handle:
            print(handle.read().rstrip())


def _print_summary(rows):
    print("\n| stage | status | seconds | output |\n|---|---|---|---|")
    for name, status, seconds, output in rows:
        print(f"| {name} | {status} | {seconds:.0f} | {output} |")


if __name__ == "__main__":
    define_flags()
    app.run(main)
