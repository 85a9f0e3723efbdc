#!/bin/sh
# run.sh - train both members (small first: it is the draft and the probe), exporting GGUF.
# Resumable: rerun after an interruption; a finished member (DONE file) is skipped.
# SMALL_BUDGET / LARGE_BUDGET: training seconds; or STEPS_SMALL / STEPS_LARGE for fixed step counts.
set -u
D=${DATA:-/work/train-data}
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS=${MODELS:-$HERE/../../models}
PY=/usr/bin/python3
mkdir -p "$MODELS"
if [ ! -f "$D/small/DONE" ]; then
  echo "$(date +%T) small: training" >> "$D/STATUS.txt"
  $PY "$HERE/train.py" --preset small --name aio-small --out "$D/small" --lr 3e-3 --warmup 40 \
    --budget "${SMALL_BUDGET:-840}" --steps "${STEPS_SMALL:-0}" --eval-every 240 --ckpt-every 150 \
    --export-path "$MODELS/aio-small.gguf" >> "$D/small.stdout" 2>&1
fi
if [ ! -f "$D/large/DONE" ]; then
  echo "$(date +%T) large: training" >> "$D/STATUS.txt"
  $PY "$HERE/train.py" --threads "${TRAIN_THREADS:-2}" --preset large --name aio-large --out "$D/large" --lr 2e-3 --warmup 40 \
    --budget "${LARGE_BUDGET:-3300}" --steps "${STEPS_LARGE:-0}" --eval-every 600 --ckpt-every 240 \
    --export-at 0.35 0.7 --export-path "$MODELS/aio-large.gguf" >> "$D/large.stdout" 2>&1
fi
echo "$(date +%T) run.sh finished" >> "$D/STATUS.txt"
