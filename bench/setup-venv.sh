#!/usr/bin/env bash
# Creates target/bench-venv with the Python peers used by the benchmarks and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x target/bench-venv/bin/python ]; then
  python3 -m venv target/bench-venv
fi
target/bench-venv/bin/pip install --quiet --disable-pip-version-check scikit-learn numpy "$@"
