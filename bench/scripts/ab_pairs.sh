#!/usr/bin/env bash
# Alternating A/B runs (the machine is shared: only same-moment pairs compare). Prints one
# line per run; summarise with medians. Usage: bench/scripts/ab_pairs.sh MODEL N "FLAGS_A" "FLAGS_B" BIN_A BIN_B
set -u
model=$1; n=$2; fa=$3; fb=$4; A=$5; B=$6
for i in $(seq "$n"); do
  for who in A B; do
    if [ $who = A ]; then bin=$A; f=$fa; else bin=$B; f=$fb; fi
    out=$("$bin" bench -m /work/models/$model.gguf -t 2 -p 512 -n 64 -r 1 --no-roofline --json $f 2>/dev/null)
    pp=$(echo "$out" | tr ',' '\n' | grep '"prefill_tok_s"' | cut -d: -f2)
    tg=$(echo "$out" | tr ',' '\n' | grep '"decode_tok_s"' | cut -d: -f2)
    echo "$model $who pp $pp tg $tg"
  done
done
