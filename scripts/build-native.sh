#!/usr/bin/env bash
# Build the BPF object, its skeleton and the addon (build/Release/ctrace.node) through
# cmake-js and CMakeLists.txt. Incremental: prints nothing when nothing changed, one line when
# the addon was rebuilt, and the whole build log when the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/Release/ctrace.node
stamp() { stat -c '%.9Y' "$out" 2>/dev/null || echo none; }

before=$(stamp)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# `build` configures once (CMake re-runs itself when CMakeLists.txt changes) and never
# falls back to a clean rebuild the way `compile` does.
if ! npx --no-install cmake-js build --parallel "$(nproc)" >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-native: failed (log above)" >&2
  exit 1
fi
if [ "$(stamp)" != "$before" ]; then
  echo "build-native: built $out" >&2
fi
