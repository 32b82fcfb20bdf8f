#!/usr/bin/env bash
# Configures and builds smsguard into ${BUILD_DIR:-build}.  Extra arguments go
# to cmake's configure step (e.g. -DSMSGUARD_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DSMSGUARD_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
