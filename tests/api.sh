#!/bin/bash
# The admin API against the real daemon on loopback (issue 4).
#
# Generated traffic (bench/smsgen, seed 1) in which the payment provider
# YooMoney was wrongly blacklisted is judged by `smsguard run -r`, which then
# keeps serving the API.  tests/api_check.py then exercises every route,
# every role allowed and refused, the error order (401, 404, 403, 413, 400,
# 409, 429), bad JSON, wrong types, unknown fields, oversized and chunked
# bodies, SQL metacharacters in every parameter and an expired token; and
# the call-centre story: the timeline shows the codes blocked by the
# blacklist entry, the agent clears it through the API, a second capture
# replayed against the same database has YooMoney's messages allowed, and
# the audit log names the agent.  Every other fate (rejected by the SMSC,
# undelivered, expired, delivered, accepted, never sent) gets its
# diagnosis checked on a subscriber whose latest message has that fate.
#
#   SMSGUARD=build/cmd/smsguard SG_BUILD=build bash tests/api.sh
set -u

SMSGUARD=${SMSGUARD:-build/cmd/smsguard}
SG_BUILD=${SG_BUILD:-$(dirname "$(dirname "$SMSGUARD")")}
SG_SOURCE=${SG_SOURCE:-$(pwd)}
SMSGEN=$SG_BUILD/bench/smsgen
for x in "$SMSGUARD" "$SMSGEN"; do
    [ -x "$x" ] || { echo "api: no executable at '$x' (set SMSGUARD, SG_BUILD)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/api-test-XXXXXX)
daemon=
cleanup() {
    if [ -n "$daemon" ]; then
        kill -TERM "$daemon" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
db=$tmp/state.db
sg() { "$SMSGUARD" "$@"; }

"$SMSGEN" -o "$tmp/first.pcap" --seed 1 --messages 2000 --no-truth 2>/dev/null || exit 1
"$SMSGEN" -o "$tmp/second.pcap" --seed 2 --messages 1000 --no-truth 2>/dev/null || exit 1

# The scenario: QIWI verified; YooMoney blacklisted by mistake.
sg whitelist add --db "$db" --sender QIWI --ton 5 --account qiwi_otp --provider "QIWI Bank" \
    --verified-by ops-anna >/dev/null || exit 1
sg blacklist add --db "$db" --sender YooMoney --reason "complaints (wrong)" --by ops-anna \
    >/dev/null || exit 1
tok() { sg token create --db "$db" "$@" 2>/dev/null; }
export API_TOK_OPS=$(tok --role ops --name ops-olga)
export API_TOK_CC=$(tok --role callcentre --name agent-ivan)
export API_TOK_PROV=$(tok --role provider --name qiwi-api --provider "QIWI Bank")
export API_TOK_PROV2=$(tok --role provider --name other-api --provider "Other Pay")
export API_TOK_EXPIRED=$(tok --role ops --name ops-temp --expires-in 1s)
export API_TOK_REVOKED=$(tok --role ops --name ops-gone)
sg token revoke --db "$db" --name ops-gone >/dev/null 2>&1 || exit 1
for t in "$API_TOK_OPS" "$API_TOK_CC" "$API_TOK_PROV" "$API_TOK_PROV2" "$API_TOK_EXPIRED"; do
    [ -n "$t" ] || { echo "api: token create failed" >&2; exit 1; }
done

# A non-loopback address without TLS is refused before anything runs.
if sg run -r "$tmp/first.pcap" --db "$tmp/other.db" -q --listen 0.0.0.0:0 >/dev/null 2>"$tmp/refuse.err"; then
    echo "api: FAIL --listen 0.0.0.0 without TLS was accepted" >&2; exit 1
fi
grep -q "not a loopback address" "$tmp/refuse.err" || { echo "api: FAIL refusal message:"; cat "$tmp/refuse.err"; exit 1; } >&2
# The proxy's --api takes the same TLS options: refused without, served
# in plain HTTP with --insecure-listen.
proxy_api=(proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --db "$tmp/other.db" --rules "$SG_SOURCE/rules"
           --api 0.0.0.0:0)
if sg "${proxy_api[@]}" >/dev/null 2>"$tmp/refuse-proxy.err"; then
    echo "api: FAIL proxy --api 0.0.0.0 without TLS was accepted" >&2; exit 1
fi
grep -q "not a loopback address" "$tmp/refuse-proxy.err" ||
    { echo "api: FAIL proxy refusal message:"; cat "$tmp/refuse-proxy.err"; exit 1; } >&2
"$SMSGUARD" "${proxy_api[@]}" --insecure-listen >/dev/null 2>"$tmp/proxy-api.err" &
proxy_pid=$!
for _ in $(seq 100); do
    grep -q "admin API and console on http://0.0.0.0:0/" "$tmp/proxy-api.err" 2>/dev/null && break
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "admin API and console on http://0.0.0.0:0/" "$tmp/proxy-api.err" ||
    { echo "api: FAIL proxy --api with --insecure-listen:"; cat "$tmp/proxy-api.err"; kill "$proxy_pid"; exit 1; } >&2
kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SMSGUARD" run -r "$tmp/first.pcap" --db "$db" -q --listen "127.0.0.1:$port" \
    --console "$SG_SOURCE/admin/console" >/dev/null 2>"$tmp/daemon.err" &
daemon=$!
for _ in $(seq 300); do
    grep -q "serving the API" "$tmp/daemon.err" 2>/dev/null && break
    kill -0 "$daemon" 2>/dev/null || { echo "api: daemon died:" >&2; cat "$tmp/daemon.err" >&2; exit 1; }
    sleep 0.1
done
grep -q "serving the API" "$tmp/daemon.err" || { echo "api: daemon not ready" >&2; cat "$tmp/daemon.err" >&2; exit 1; }

export API_BASE="http://127.0.0.1:$port" API_DB="$db" API_SECOND="$tmp/second.pcap" SMSGUARD
python3 "$SG_SOURCE/tests/tools/api_check.py"
rc=$?
if [ $rc -ne 0 ]; then
    echo "--- daemon stderr" >&2
    tail -n 20 "$tmp/daemon.err" >&2
fi
exit $rc
