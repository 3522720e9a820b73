#!/usr/bin/env bash
# Build everything: BPF object + skeleton + addon (CMake via cmake-js), then TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-native.sh
node scripts/gen-schema.mjs
npx tsc -p tsconfig.json
node scripts/gen-man.js  # build/man/ctrace.1, from the CLI's definitions
