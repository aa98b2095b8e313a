#!/usr/bin/env bash
# Installs what Meridian needs to build, run and test, from Debian 12's packages.
# Idempotent: packages already present are not touched, and apt is not run at all when
# nothing is missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libpoco-dev libsqlite3-dev nlohmann-json3-dev libboost-test-dev
  curl ca-certificates iproute2
)
if [[ "${MERIDIAN_BROWSER_DEPS:-0}" == 1 ]]; then
  # The browser tests and the Yjs benchmark: Debian's Chromium, and Node.js with npm unless
  # a Node.js is already installed some other way.
  packages+=(chromium)
  if ! command -v node >/dev/null 2>&1; then packages+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
