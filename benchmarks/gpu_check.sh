#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: every command on CUDA end to end, then the tests that
# need CUDA (they skip elsewhere). Uses the python3 that has torch with CUDA.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$py" benchmarks/gpu_check.py || status=1
"$py" -m pytest -q -p no:cacheprovider tests -k cuda -rs || status=1
exit $status
