#!/usr/bin/env bash
# In-RAM benchmark matrix: new vs old binary, alternating case by case so both see the same
# machine state. Usage: bench/scripts/bench_matrix.sh NEW_BIN OLD_BIN OUT_DIR (models in /work/models).
set -u
NEW=$1; OLD=$2; OUT=$3; mkdir -p "$OUT"
M=/work/models
run() {  # name bin model flags...
  local name=$1 bin=$2 model=$3; shift 3
  echo "== $name $model $*" | tee -a "$OUT/log.txt"
  "$bin" bench -m "$M/$model.gguf" -t 2 -p 512 -n 128 -r 3 --json "$@" > "$OUT/$name-$model$(echo "$@" | tr -d ' -').json" 2>>"$OUT/log.txt"
  cat "$OUT/$name-$model$(echo "$@" | tr -d ' -').json" | tr ',' '\n' | grep -E '"(prefill_tok_s|prefill_tok_s_stddev|decode_tok_s|decode_tok_s_stddev|roofline_fraction|decode_read_gb_s|machine_read_gb_s|peak_rss_bytes|reglu_zero_fraction|neuron_column_layers|decode_bytes_per_token)"' | tr '\n' ' ' | tee -a "$OUT/log.txt"; echo | tee -a "$OUT/log.txt"
}
for model in 4b-q4_0 4b-q4_0-sparse 4b-q8_0 4b-q8_0-sparse; do
  run new "$NEW" $model
  run old "$OLD" $model
  run new "$NEW" $model --no-sparse
done
