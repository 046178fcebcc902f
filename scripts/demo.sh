#!/usr/bin/env bash
# Sets up .venv and runs the demo: the koelectra-small-v3 recipe at tiny scale on the bundled sample data, then a
# parity check and one predict_text call (resumable: re-run to continue; WORK_DIR picks the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
exec .venv/bin/python -m electra_tf.pipeline --work_dir "${WORK_DIR:-runs/demo}" "$@"
