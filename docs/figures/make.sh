#!/bin/sh
# The figures of docs/figures.md, made again from what gradcli draws now:
#   sh docs/figures/make.sh        (from the repository root, matplotlib installed)
# The files are deterministic on one machine (no dates in them); another CPU's float32 may
# move a path by a pixel.
set -eu
cd "$(dirname "$0")"
gradcli compare -m rosenbrock --steps 300 -o sgd -o adam -o rmsprop -f jsonl \
  --plot-file compare-rosenbrock.png > /dev/null
gradcli optim -m mlp -o adam --schedule 'CosineAnnealingLR(T_max=100)' -f jsonl \
  --plot loss,grad-norm,update-norm,lr --plot-file mlp-adam.png > /dev/null 2>&1
gradcli optim -m himmelblau --steps 200 -f jsonl --report report.html > /dev/null
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1500 \
  --screenshot=report.png "file://$(pwd)/report.html" > /dev/null 2>&1
rm report.html
