#!/usr/bin/env bash
# The domain-adapt recipe on real text nobody here wrote: a released model (RELEASED, with its vocabulary VOCAB)
# continued on KorNLI's XNLI dev+test sentences, then the pieces per word of KorSTS test sentences (text neither
# vocabulary was trained on) under the released and the extended vocabulary. KORNLU: a checkout (or
# `git --git-dir=… show` export) of kakaobrain/KorNLUDatasets.
set -euo pipefail
RELEASED=$1 VOCAB=$2 KORNLU=$3 WORK=${4:-runs/domain_adapt_real}
mkdir -p "$WORK"
cat "$KORNLU"/KorNLI/xnli.dev.ko.tsv "$KORNLU"/KorNLI/xnli.test.ko.tsv \
  | awk -F'\t' '$1 != "sentence1" {print $1; print $2}' | sort -u > "$WORK/xnli.txt"
awk -F'\t' 'NR > 1 {print $6; print $7}' "$KORNLU"/KorSTS/sts-test.tsv | sort -u > "$WORK/korsts_test.txt"
python -m electra_tf.recipe --recipe domain-adapt --init_checkpoint "$RELEASED" --vocab "$VOCAB" \
  --input "$WORK/xnli.txt" --work_dir "$WORK/w" --scale tiny
for text in xnli korsts_test; do
  python -m experiments.vocab_fertility --text "$WORK/$text.txt" --vocab "released=$VOCAB" \
    --vocab "extended=$WORK/w/extend/vocab.txt"
done
