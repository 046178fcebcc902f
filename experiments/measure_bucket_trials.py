"""Do length buckets cost accuracy? NSMC fine-tuning trials with the default `bucket_width` against 0 (off).

    python -m experiments.measure_bucket_trials --init PRETRAINED_DIR --data_dir NSMC_DIR --work_dir DIR \\
        [--seeds 1,2,3,4,5] [--widths 16,0] [--config configs/finetune/tiny.json] \\
        [--hparams '{"num_train_epochs": 2, "max_seq_length": 128, "train_batch_size": 32}']

For each seed in turn, each width runs that trial (`python -m electra_tf.finetuning --seeds ...` into
DIR/width<W>/, so a killed measurement resumes and a partial one stays paired by seed); then
`python -m electra_tf.finetuning.compare DIR/width<first> DIR/width<second>` is printed and written to
DIR/compare.txt. PRETRAINED_DIR is an exported discriminator (e.g. bench_pretraining_value's
pretrain/export/discriminator); NSMC_DIR as scripts/make_nsmc.py builds it.
"""

import argparse
import json
import os
import subprocess
import sys

DEFAULT_HPARAMS = {"num_train_epochs": 2, "learning_rate": 1.25e-4, "max_seq_length": 128, "train_batch_size": 32}


def finetune_command(args, width, seeds):
    hparams = {**DEFAULT_HPARAMS, **json.loads(args.hparams or "{}"), "bucket_width": width}
    return [sys.executable, "-m", "electra_tf.finetuning", "--task=nsmc", f"--config={args.config}",
            f"--init_checkpoint={args.init}", f"--data_dir={args.data_dir}",
            f"--output_dir={os.path.join(args.work_dir, f'width{width}')}", f"--seeds={','.join(map(str, seeds))}",
            f"--hparams={json.dumps(hparams, sort_keys=True)}", "--noprogress", "--noexport"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--widths", default="16,0")
    parser.add_argument("--config", default="configs/finetune/tiny.json")
    parser.add_argument("--hparams", help="JSON overrides on top of the issue's settings (2 epochs, lr 1.25e-4, "
                        "128 tokens, batch 32).")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    widths = [int(width) for width in args.widths.split(",")]
    for count in range(1, len(seeds) + 1):
        for width in widths:
            print(f"=== width {width}, seeds {seeds[:count]}", flush=True)
            subprocess.run(finetune_command(args, width, seeds[:count]), check=True)
    compare = subprocess.run([sys.executable, "-m", "electra_tf.finetuning.compare",
                              os.path.join(args.work_dir, f"width{widths[0]}"),
                              os.path.join(args.work_dir, f"width{widths[1]}")],
                             check=True, capture_output=True, text=True)
    print(compare.stdout)
    with open(os.path.join(args.work_dir, "compare.txt"), "w") as handle:
        handle.write(compare.stdout)


if __name__ == "__main__":
    main()
