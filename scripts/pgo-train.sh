#!/usr/bin/env bash
# The training run of the profile-guided build (scripts/build.sh): runs the
# instrumented smsguard of BUILD_DIR over the work the hot paths do in
# production, so that GCC lays them out for it.  The traffic is the
# generator's, with a seed of its own (7) that no benchmark uses, judged
# with the shipped rules; the profile lands in BUILD_DIR/pgo-profile.
#
# usage: scripts/pgo-train.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/pgo-train.sh BUILD_DIR}
sg=$build/cmd/smsguard
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/bench/smsgen" -o "$work/train.pcap" --seed 7 --messages 20000 --sessions 32 --no-truth >/dev/null
# Decoding alone, quiet and with its JSON Lines.
"$sg" decode -q -r "$work/train.pcap" 2>/dev/null
"$sg" decode -r "$work/train.pcap" >/dev/null 2>&1
# Judging with the verdict events, then with lists and the message log.
"$sg" replay -r "$work/train.pcap" --rules rules --rules-cache "$work/cache" >/dev/null 2>&1
"$sg" whitelist add --db "$work/t.db" --sender QIWI --ton 5 --account qiwi_otp \
    --provider "QIWI Bank" --verified-by pgo >/dev/null
"$sg" blacklist add --db "$work/t.db" --sender YooMoney --reason training --by pgo >/dev/null
"$sg" replay -q -r "$work/train.pcap" --rules rules --rules-cache "$work/cache" --db "$work/t.db" 2>/dev/null
# The message-log writer at full rate.
"$build/bench/bench-msglog" -d "$work/m.db" -n 200000 >/dev/null 2>&1
