"""Fine-tune an ELECTRA discriminator: a thin wrapper of `python -m electra_tf.finetuning` (see there)."""

from electra_tf.finetuning.__main__ import run

if __name__ == "__main__":
    run()
