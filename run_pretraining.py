"""Pre-train an ELECTRA generator + discriminator: a thin wrapper of `python -m electra_tf.pretraining` (see there)."""

from electra_tf.pretraining.__main__ import run

if __name__ == "__main__":
    run()
