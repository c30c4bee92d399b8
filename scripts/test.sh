#!/usr/bin/env bash
# The whole test run (what CI calls): release build + all tests, the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, then every fuzz target for a bounded time.
#   ST_FUZZ_SECONDS (default 60) bounds each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/build.sh release
ctest --test-dir build --output-on-failure -j "$jobs"

scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE no_asan

scripts/build.sh fuzz
for f in build-fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  mkdir -p "build-fuzz/corpus-$name"
  echo "fuzz: $name for ${ST_FUZZ_SECONDS:-60}s"
  "$f" -max_total_time="${ST_FUZZ_SECONDS:-60}" -max_len=65536 -rss_limit_mb=2048 \
       "build-fuzz/corpus-$name" $( [ -d "$corpus" ] && echo "$corpus" ) 2>&1 | tail -n 3
done
echo "test.sh: all passed"
