#!/usr/bin/env bash
# Configures and builds one flavour of the project with CMake + Ninja.
#   scripts/build.sh [release|asan|fuzz|aarch64]   (default release) -> build/, build-asan/, build-fuzz/,
#   build-aarch64/ (cross build of formats, kernels, model and their tests; ctest runs them under qemu-user)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=Release -DST_WERROR=ON) ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_SANITIZE=ON -DST_BUILD_BENCH=OFF) ;;
  fuzz)    dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_FUZZ=ON -DST_BUILD_BENCH=OFF
                                 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  # No -Werror here: the release build already enforces it on the same sources, and GCC 12's
  # aarch64 -O3 adds false -Warray-bounds/-Wrestrict reports inside libstdc++'s vector code.
  aarch64) dir=build-aarch64; args=(-DCMAKE_BUILD_TYPE=Release -DST_CORE_ONLY=ON
                                    -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake) ;;
  *) echo "usage: $0 [release|asan|fuzz|aarch64]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
if [ "$flavour" = fuzz ]; then
  cmake --build "$dir" --target fuzz_all
else
  cmake --build "$dir"
fi
