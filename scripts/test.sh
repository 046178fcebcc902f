#!/usr/bin/env bash
# Sets up .venv with the test extras (pytest, CPU torch for the PyTorch parity tests) and runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test,torch
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -q --durations=30 "$@"
