# Shared by the end-to-end tests that start peer processes (node-smpp,
# Kannel, webhook receivers, smsguard itself).  Sourced, not run:
#
#   here=$(cd "$(dirname "$0")" && pwd); . "$here/lib/peers.sh"
#   sg_need node "Debian package nodejs"     # missing tool: FAIL, never skip
#   sg_node_smpp "$here"                     # tests/proxy/node_modules, NODE_PATH
#   sg_tmp proxy-x                           # $tmp, $pids, $fail; cleanup on exit
#   p=$(port); wait_port "$p" [SECONDS]; die "message"
#
# Cleanup stops every pid in $pids (TERM, up to 3 s, then KILL: nothing may
# outlive a test) and removes $tmp unless KEEP_TMP=1.

sg_need() { # TOOL [WHERE IT COMES FROM]
  command -v "$1" >/dev/null ||
    { echo "FAIL: $1 not installed (${2:+$2; }scripts/install-deps.sh)"; exit 1; }
}

sg_node_smpp() { # TESTS_DIR
  sg_need node "Debian package nodejs"
  if [ ! -f "$1/proxy/node_modules/smpp/package.json" ]; then
    (cd "$1/proxy" && timeout 120 npm ci --no-audit --no-fund --loglevel=error) ||
      { echo "FAIL: npm could not install node-smpp in tests/proxy"; exit 1; }
  fi
  export NODE_PATH="$1/proxy/node_modules"
}

sg_cleanup() {
  local p alive
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 30); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}

sg_tmp() { # NAME
  tmp=$(mktemp -d "/tmp/$1-XXXXXX")
  pids=()
  fail=0
  trap sg_cleanup EXIT
  trap 'exit 1' TERM INT
}

die() { echo "FAIL: $*"; fail=1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Default 90 s: a sanitizer build compiles an uncached rule set slowly.
wait_port() { # PORT [SECONDS]
  local i
  for i in $(seq $(( ${2:-90} * 20 ))); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
