#!/usr/bin/env bash
# Configures and builds one flavour of the project with CMake + Ninja.
#   scripts/build.sh [release|asan|fuzz]   (default release) -> build/, build-asan/, build-fuzz/
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=Release -DST_WERROR=ON) ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_SANITIZE=ON -DST_BUILD_BENCH=OFF) ;;
  fuzz)    dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_FUZZ=ON -DST_BUILD_BENCH=OFF
                                 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
if [ "$flavour" = fuzz ]; then
  cmake --build "$dir" --target fuzz_all
else
  cmake --build "$dir"
fi
