#!/usr/bin/env bash
# Sets up .venv and runs the whole pipeline on the bundled sample data (resumable: re-run to continue).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
exec .venv/bin/python -m electra_tf.pipeline --work_dir "${WORK_DIR:-runs/demo}" "$@"
