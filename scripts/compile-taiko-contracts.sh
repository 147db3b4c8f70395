#!/usr/bin/env bash
# Regenerates the compiled test contracts of tests/it/fixtures/taiko/ (creation and runtime
# bytecode, ABI JSON) from TaikoEmitters.sol, offline, with the pinned solcjs that
# scripts/services.sh installs into tools/. Commit the results.
#
# Usage: scripts/compile-taiko-contracts.sh [OUT_DIR]   (default: tests/it/fixtures/taiko)
# The test `taiko_contracts::committed_artifacts_equal_a_fresh_compile` runs this with a
# temporary OUT_DIR and compares.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
command -v node >/dev/null 2>&1 || { echo "compile-taiko-contracts: node not found (run scripts/services.sh)" >&2; exit 1; }
exec node "$ROOT/scripts/compile-taiko-contracts.js" "$@"
