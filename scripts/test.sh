#!/usr/bin/env bash
# Sets up .venv with the test extras (pytest, pytest-xdist, CPU torch for the PyTorch parity tests) and runs the
# suite in 2 processes, one test file at a time each (the session fixtures are built once and shared), printing the
# 30 slowest tests. Arguments go to pytest: `-m "not slow"` is the inner loop (no end-to-end runs), `-n 0` runs in
# this one process, `--cpu-durations=N` prints the N costliest tests in CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh test,torch
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -q --durations=30 -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
