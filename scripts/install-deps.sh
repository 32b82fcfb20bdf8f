#!/usr/bin/env bash
# Installs everything smsguard needs to build, run and test, from Debian 12's
# packages.  Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libpcap-dev libhyperscan-dev libsqlite3-dev libmicrohttpd-dev
  libjansson-dev libutf8proc-dev libxxhash-dev nettle-dev libcurl4-gnutls-dev
  sqlite3 tshark python3 ca-certificates
  chromium nodejs curl wrk
  kannel
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  # tshark asks whether non-root users may capture; answer before installing.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# npm: Debian's nodejs (18) ships without it; a nodejs from elsewhere (e.g.
# NodeSource) bundles its own, which Debian's npm package would conflict with.
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends npm
fi
# The console's browser test (tests/console.sh): playwright-core, pinned in
# tests/console/package-lock.json.  It drives /usr/bin/chromium and never
# downloads a browser.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$root/tests/console/node_modules/playwright-core/package.json" ]; then
  (cd "$root/tests/console" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
# The proxy's end-to-end test (tests/proxy.sh): node-smpp (npm `smpp`) as a
# third-party ESME and SMSC, pinned in tests/proxy/package-lock.json.
if [ ! -f "$root/tests/proxy/node_modules/smpp/package.json" ]; then
  (cd "$root/tests/proxy" && npm ci --no-audit --no-fund --loglevel=error)
fi
