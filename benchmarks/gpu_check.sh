#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: every command on CUDA end to end, the tests that need
# CUDA (they skip elsewhere), then the timing cases on CUDA (about 3-4 minutes in all).
# Uses the python3 that has torch with CUDA; gradcli itself comes from this checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$py" benchmarks/gpu_check.py || status=1
"$py" -m pytest -q -p no:cacheprovider tests -k cuda -rs || status=1
"$py" benchmarks/run.py --device cuda --repeat 2 --case b1 --case b2 --case c --case d \
  --case e --case f ${GPU_CHECK_JSON:+--json "$GPU_CHECK_JSON"} || status=1
exit $status
