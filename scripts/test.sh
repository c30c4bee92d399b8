#!/usr/bin/env bash
# The whole test run (what CI calls): release build + all tests, the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, then every fuzz target for a bounded time,
# then the aarch64 cross build's kernel and model tests under qemu-user.
#   ST_FUZZ_SECONDS (default 30) bounds each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/build.sh release
ctest --test-dir build --output-on-failure -j "$jobs"

scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE no_asan

scripts/build.sh fuzz
# Every target in tests/fuzz must have been built: a missing one would otherwise pass unseen.
for src in tests/fuzz/*_fuzz.cpp; do
  name=fuzz_$(basename "$src" _fuzz.cpp)
  [ -x "build-fuzz/fuzz/$name" ] || { echo "fuzz: build-fuzz/fuzz/$name was not built" >&2; exit 1; }
done
for f in build-fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  mkdir -p "build-fuzz/corpus-$name"
  echo "fuzz: $name for ${ST_FUZZ_SECONDS:-30}s"
  "$f" -max_total_time="${ST_FUZZ_SECONDS:-30}" -max_len=65536 -rss_limit_mb=2048 \
       "build-fuzz/corpus-$name" $( [ -d "$corpus" ] && echo "$corpus" ) 2>&1 | tail -n 3
done
# aarch64: qemu's default CPU ("max") has dotprod, so the consistency tests compare scalar,
# neon and neon_dotprod; a Cortex-A53 (ARMv8.0, no dotprod) then proves the plain NEON
# fallback is what dispatch picks there and that it passes on its own.
scripts/build.sh aarch64
ctest --test-dir build-aarch64 --output-on-failure -j "$jobs"
arm="qemu-aarch64 -L /usr/aarch64-linux-gnu"  # as CMAKE_CROSSCOMPILING_EMULATOR in cmake/toolchain-aarch64.cmake
isas_max=$($arm build-aarch64/tests/kernels_tests --gtest_list_tests)
isas_a53=$(QEMU_CPU=cortex-a53 $arm build-aarch64/tests/kernels_tests --gtest_list_tests)
[[ $isas_max == *_neon_dotprod* ]] || { echo "aarch64: qemu max ran no neon_dotprod tests" >&2; exit 1; }
[[ $isas_a53 == *_neon* && $isas_a53 != *_neon_dotprod* ]] || { echo "aarch64: Cortex-A53 ISAs wrong" >&2; exit 1; }
for t in kernels model; do QEMU_CPU=cortex-a53 $arm "build-aarch64/tests/${t}_tests" --gtest_brief=1; done
echo "test.sh: all passed"
