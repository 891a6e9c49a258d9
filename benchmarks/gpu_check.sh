#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: every command on CUDA end to end, the tests marked `cuda`
# (they skip elsewhere), then the timing cases on CUDA (under 5 minutes on an H100 machine).
# Uses the python3 that has torch with CUDA; gradcli itself comes from this checkout.
#   GPU_CHECK_CASES="c d"   only these timing cases (default: b1 b2 c d f)
#   GPU_CHECK_JSON=FILE     also write the timings to FILE as JSON
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$py" benchmarks/gpu_check.py || status=1
"$py" -m pytest -q -p no:cacheprovider tests -m cuda -rs || status=1
cases=()
for case in ${GPU_CHECK_CASES:-b1 b2 c d f}; do cases+=(--case "$case"); done
# Each process takes 5-15 s there (torch's import): two paired runs each, no warm-up run.
"$py" benchmarks/run.py --device cuda --repeat 2 --warmup 0 "${cases[@]}" \
  ${GPU_CHECK_JSON:+--json "$GPU_CHECK_JSON"} || status=1
exit $status
