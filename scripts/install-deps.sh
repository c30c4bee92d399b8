#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (run as root, or with sudo).
# Debian packages only, plus the npm packages of the JavaScript test oracles (tests/tokenizer_js).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PACKAGES=(
  # build
  cmake ninja-build g++ clang pkg-config git
  # libraries we build on
  libpcre2-dev libutf8proc-dev liburing-dev libboost-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libedit-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev tmux expect nodejs
  # the chat page's browser test (tests/web, driven with playwright-core)
  chromium
  # aarch64 cross build (NEON kernels), its tests run under qemu-user; GoogleTest is built for
  # it from the source libgtest-dev ships (no arm64 multiarch packages needed)
  g++-aarch64-linux-gnu qemu-user
  # independent oracles and the nano model's training (python3-torch uses OpenBLAS when installed)
  python3-numpy python3-torch python3-regex python3-matplotlib libopenblas0-pthread bible-kjv
  # the Python package (pip install --no-build-isolation . in a venv, offline) and its tests;
  # make builds examples/c
  python3-setuptools python3-pip python3-venv python3-wheel python3-pytest python3-jsonschema make
  # the Debian package (cpack -G DEB; its Depends come from dpkg-shlibdeps); its test renders
  # smallthinker(1) with groff and finds it installed with man
  dpkg-dev groff-base man-db
)
# npm: Debian's package, unless the installed nodejs already brings its own (NodeSource's
# nodejs conflicts with Debian's npm package).
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages (the npm registry), exact versions pinned by each folder's package-lock.json:
# JavaScript test oracles and clients under tests/, front-end libraries of the chat page.
for dir in tests/*/ src/apps/server/web/; do
  if [ -f "$dir/package-lock.json" ]; then
    # Again when the lock file changed since the last install (a dependency was added).
    (cd "$dir" && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; })
  fi
done
echo "install-deps: ok"
