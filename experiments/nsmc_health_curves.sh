#!/bin/bash
# The README's pre-training health curves (docs/images/nsmc_tiny_curves.png): a real tiny pre-training on NSMC
# movie reviews with the package's own commands (prepare -> vocab -> corpus -> pre-training).
# Usage: experiments/nsmc_health_curves.sh NSMC_GIT_DIR WORK_DIR   (NSMC_GIT_DIR: a clone of github.com/e9t/nsmc)
# Ran 2026-12-04 on a shared 2-core CPU: 1,500 steps in about 11 minutes (see the README caption).
set -e
NSMC=$1; WORK=$2; REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK/raw" && cd "$WORK"
# ~12 MB of review text, one review a line: raw/*.json in sorted order until 12,000,000 bytes
python - "$NSMC" <<'PY'
import json, subprocess, sys
git = ["git", "--git-dir", sys.argv[1]]
names = sorted(subprocess.run(git + ["ls-tree", "--name-only", "HEAD", "raw/"], capture_output=True,
                              text=True, check=True).stdout.split())
total = 0
with open("raw/reviews.txt", "w", encoding="utf-8") as out:
    for name in names:
        for review in json.loads(subprocess.run(git + ["show", f"HEAD:{name}"], capture_output=True,
                                                check=True).stdout):
            text = review["review"].strip()
            if text:
                out.write(text + "\n"); total += len(text.encode()) + 1
        if total >= 12_000_000:
            break
PY
# the last 6,535 reviews are held out (the run was made with a separate held-out corpus and --eval_data_dir;
# `build_pretraining_data --heldout_shards K` now does the same from one corpus)
head -n 114000 raw/reviews.txt > raw/train.txt && tail -n +114001 raw/reviews.txt > raw/heldout.txt
PY="nice -n 19 python"
$PY -m electra_tf.prepare --input raw/train.txt --output corpus/train.txt --cleaning koelectra --dedupe --noprogress
$PY -m electra_tf.prepare --input raw/heldout.txt --output corpus/heldout.txt --cleaning koelectra --dedupe --noprogress
$PY -m electra_tf.vocab --input corpus/train.txt --output_dir vocab/ --vocab_size 8000
$PY -m electra_tf.data.build_pretraining_data --input corpus/train.txt --vocab vocab/vocab.txt --output_dir shards/ \
    --max_seq_length 64
$PY -m electra_tf.data.build_pretraining_data --input corpus/heldout.txt --vocab vocab/vocab.txt \
    --output_dir heldout_shards/ --max_seq_length 64
$PY -m electra_tf.pretraining --config "$REPO/configs/pretrain/tiny.json" --data_dir shards/ --vocab vocab/vocab.txt \
    --model_dir runs/tiny --eval_data_dir heldout_shards/ --hparams '{"train_steps": 1500}'
# the image: runs/tiny/curves.png
