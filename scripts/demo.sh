#!/usr/bin/env bash
# The main job: run the default model. Uses the shipped SmallThinker-Nano when present,
# otherwise generates a small random model so the command always works.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bin/smallthinker
[ -x "$B" ] || scripts/build.sh
model=models/smallthinker-nano.gguf
if [ -f "$model" ] && "$B" --help 2>/dev/null | grep -q '^ *chat'; then
  exec "$B" chat -m "$model" "$@"
fi
if [ ! -f "$model" ]; then
  model=build/demo-tiny.gguf
  [ -f "$model" ] || "$B" synth -o "$model" --preset tiny-swa --type q8_0
fi
exec "$B" run -m "$model" --tokens 1,2,3,4 -n 32 --temp 0.6 --top-k 20 --top-p 0.95 --seed 1 "$@"
