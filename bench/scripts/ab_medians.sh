#!/usr/bin/env bash
# Alternating A/B runs of two binaries on one model (the machine is shared and its memory
# bandwidth drifts by tens of percent: only same-moment pairs compare), then the median
# decode and prefill tok/s of each. Usage:
#   bench/scripts/ab_medians.sh MODEL N BIN_A BIN_B ["BENCH FLAGS"]   (default flags: -p 512 -n 128)
# MODEL names /work/models/MODEL.gguf; each run is `bench -t 2 -r 2 --no-roofline --json FLAGS`.
set -u
model=$1; n=$2; A=$3; B=$4; flags=${5:-"-p 512 -n 128"}
ra=(); rb=(); pa=(); pb=()
for i in $(seq "$n"); do
  for who in A B; do
    if [ $who = A ]; then bin=$A; else bin=$B; fi
    # shellcheck disable=SC2086
    out=$("$bin" bench -m "/work/models/$model.gguf" -t 2 -r 2 --no-roofline --json $flags 2>/dev/null)
    tg=$(echo "$out" | tr ',' '\n' | grep '"decode_tok_s"' | cut -d: -f2)
    pp=$(echo "$out" | tr ',' '\n' | grep '"prefill_tok_s"' | cut -d: -f2)
    if [ $who = A ]; then ra+=("$tg"); pa+=("$pp"); else rb+=("$tg"); pb+=("$pp"); fi
  done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "$model A $A: tg median $(med "${ra[@]}") [${ra[*]}]  pp median $(med "${pa[@]}")"
echo "$model B $B: tg median $(med "${rb[@]}") [${rb[*]}]  pp median $(med "${pb[@]}")"
