#!/usr/bin/env bash
# Configures and builds Meridian into build/ (Release) or build-debug/ (Debug with ASan and
# UBSan when MERIDIAN_BUILD=debug). Prints the build directory on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/deploy/install-deps.sh"
if [[ "${MERIDIAN_BUILD:-release}" == debug ]]; then
  dir=build-debug; type=Debug
else
  dir=build; type=Release
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
jobs=${MERIDIAN_JOBS:-$(nproc)}
ninja -C "$dir" -j "$jobs" >&2
echo "$dir"
