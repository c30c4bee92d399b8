#!/bin/sh
# Reproduce SmallThinker-Nano from scratch: data, tokenizer, 3-stage curriculum, evaluation,
# activation statistics, GGUF export (models/smallthinker-nano.gguf) and figures (train/figures/).
# Needs: python3-torch python3-numpy python3-regex python3-matplotlib libopenblas0-pthread bible-kjv
set -e
cd "$(dirname "$0")/.."
mkdir -p train/out
export OMP_WAIT_POLICY=PASSIVE
nice -n 10 /usr/bin/python3 train/train.py --all "$@" 2>&1 | tee train/out/log.txt
