#!/usr/bin/env bash
# Runs the browser tests: the text CRDT port (Node) and the two-region collaborative editing
# test (real meridian binaries + Debian's Chromium driven by playwright-core).
# Installs what is missing: the chromium package, and playwright-core under node_modules/.
#   tests/browser/run.sh                      (MERIDIAN_BINARY=path/to/meridian to choose the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "run.sh: installing chromium" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [[ ! -d node_modules/playwright-core ]]; then
  echo "run.sh: installing playwright-core" >&2
  if [[ -f package-lock.json ]]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
  else
    npm install --prefix "$here" --no-audit --no-fund --loglevel=error
  fi
fi
# playwright-core never downloads a browser; make sure nothing tries.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
mkdir -p artifacts
# One file at a time (Node 18, Debian 12's, has no --test-concurrency).
node --test --test-reporter=spec text_crdt.test.mjs
node --test --test-reporter=spec collab.test.mjs
