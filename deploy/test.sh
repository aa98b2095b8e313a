#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every CTest suite.
#   deploy/test.sh                 everything
#   deploy/test.sh -LE slow        the fast loop (skips suites labelled slow)
#   MERIDIAN_BUILD=debug deploy/test.sh   the same under ASan and UBSan
# Extra arguments go to ctest. Test logs and artifacts land in test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
MERIDIAN_BROWSER_DEPS=1 deploy/install-deps.sh
dir=$(deploy/build.sh | tail -n 1)
mkdir -p test-artifacts
export MERIDIAN_ARTIFACTS="$(pwd)/test-artifacts"
cd "$dir"
ctest --output-on-failure --timeout 900 "$@"
