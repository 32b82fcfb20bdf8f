#!/usr/bin/env bash
# Configures and builds smsguard into ${BUILD_DIR:-build}.  Extra arguments go
# to cmake's configure step (e.g. -DSMSGUARD_SANITIZE=ON).
#
# The release build (no sanitizers, no libFuzzer, GCC) is link-time and
# profile-guided optimised, in two stages in the same folder (the profile
# is keyed by object path): an instrumented build of the programs the
# training needs, the training run (scripts/pgo-train.sh), then the whole
# build with the profile.  docs/benchmarks.md ("Build") has what each is
# worth.  SMSGUARD_PGO=0 builds in one stage, with neither.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=$(nproc)
release=1
for a in "$@"; do
    case "$a" in
    -DSMSGUARD_SANITIZE=ON | -DSMSGUARD_FUZZ=ON | -DCMAKE_BUILD_TYPE=Debug | -DCMAKE_C_COMPILER=*clang*) release=0 ;;
    esac
done
[[ "${SMSGUARD_PGO:-1}" == 0 ]] && release=0
if ((release == 0)); then
    cmake -S . -B "$build" -DSMSGUARD_WERROR=ON -DSMSGUARD_LTO=OFF -DSMSGUARD_PGO= "$@" >/dev/null
    cmake --build "$build" -j"$jobs"
    exit 0
fi
cmake -S . -B "$build" -DSMSGUARD_WERROR=ON -DSMSGUARD_LTO=ON -DSMSGUARD_PGO=generate "$@" >/dev/null
cmake --build "$build" -j"$jobs" --target smsguard smsgen bench-msglog
rm -rf "$build/pgo-profile"
echo "-- training the profile-guided build (scripts/pgo-train.sh)"
bash scripts/pgo-train.sh "$build"
cmake -S . -B "$build" -DSMSGUARD_PGO=use >/dev/null
cmake --build "$build" -j"$jobs"
