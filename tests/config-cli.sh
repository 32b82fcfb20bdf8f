#!/usr/bin/env bash
# --config on the command line (docs/configuration.md): errors as
# FILE:LINE with exit status 2 before any packet is read; values reach the
# decoder and the paths; options given on the command line override the
# file; the shipped etc/smsguard.conf is accepted.
# Env: SMSGUARD, SG_BUILD (bench/smsgen).
set -euo pipefail
: "${SMSGUARD:?path of the smsguard binary}"
: "${SG_BUILD:?build folder (bench/smsgen)}"
SG_SOURCE=${SG_SOURCE:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$SG_BUILD/rules-cache"
"$SG_BUILD/bench/smsgen" -o "$tmp/c.pcap" --seed 5 --messages 2000 --sessions 24 --no-truth >/dev/null 2>&1
fail=0
ok() { echo "  ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

printf '[decoder]\nmax_flows = 5\nmax_flows = 6\n[verdict]\nblock_at = x\n' > "$tmp/bad.conf"
set +e
"$SMSGUARD" replay --config "$tmp/bad.conf" -r "$tmp/c.pcap" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
[ "$rc" -eq 2 ] && ok "bad file: exit 2" || bad "bad file: exit $rc, want 2"
grep -q "^$tmp/bad.conf:3: duplicate key 'max_flows' (first set at line 2)$" "$tmp/err" &&
    grep -q "^$tmp/bad.conf:5: block_at: 'x' is not a non-negative number$" "$tmp/err" &&
    ok "errors located" || { bad "error lines"; cat "$tmp/err"; }
[ ! -s "$tmp/out" ] && ok "no verdicts" || bad "verdicts written despite a bad file"

# Values reach the decoder: one flow tracked evicts; --max-flows overrides.
printf '[decoder]\nmax_flows = 1\n[paths]\nrules = "%s/rules"\nrules_cache = "%s"\n' "$SG_SOURCE" "$SG_BUILD/rules-cache" > "$tmp/one.conf"
"$SMSGUARD" replay -q --config "$tmp/one.conf" -r "$tmp/c.pcap" 2> "$tmp/err1"
"$SMSGUARD" replay -q --config "$tmp/one.conf" --max-flows 100000 -r "$tmp/c.pcap" 2> "$tmp/err2"
ev1=$(sed -n 's/^  evicted   \([0-9]*\) flows.*/\1/p' "$tmp/err1")
ev2=$(sed -n 's/^  evicted   \([0-9]*\) flows.*/\1/p' "$tmp/err2")
[ "${ev1:-0}" -gt 0 ] && ok "max_flows = 1 evicts $ev1 flows (rules path from the file)" || bad "max_flows = 1 evicted '${ev1:-}'"
[ "${ev2:-x}" = 0 ] && ok "--max-flows overrides the file" || bad "--max-flows did not override (evicted '${ev2:-}')"

# Paths: a rules path in the file is used, and --rules overrides it.
printf '[paths]\nrules = %s/nonexistent-rules\n' "$tmp" > "$tmp/paths.conf"
set +e
"$SMSGUARD" replay -q --config "$tmp/paths.conf" -r "$tmp/c.pcap" 2> "$tmp/err3"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "nonexistent-rules" "$tmp/err3" && ok "rules path from the file" || bad "rules path ignored (rc $rc)"
"$SMSGUARD" replay -q --config "$tmp/paths.conf" --rules "$SG_SOURCE/rules" --rules-cache "$SG_BUILD/rules-cache" \
    -r "$tmp/c.pcap" 2>/dev/null && ok "--rules overrides the file" || bad "--rules did not override"

# The shipped example is the defaults: same verdicts as no file at all.
"$SMSGUARD" replay --config "$SG_SOURCE/etc/smsguard.conf" --rules "$SG_SOURCE/rules" \
    --rules-cache "$SG_BUILD/rules-cache" -r "$tmp/c.pcap" 2>/dev/null > "$tmp/v1"
"$SMSGUARD" replay --rules "$SG_SOURCE/rules" --rules-cache "$SG_BUILD/rules-cache" -r "$tmp/c.pcap" 2>/dev/null > "$tmp/v2"
[ -s "$tmp/v1" ] && cmp -s "$tmp/v1" "$tmp/v2" && ok "etc/smsguard.conf gives the same verdicts as the defaults" ||
    bad "etc/smsguard.conf changes the verdicts"
[ "$fail" -eq 0 ] && echo "config-cli: ok"
exit "$fail"
