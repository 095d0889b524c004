#!/usr/bin/env bash
# Our GSM 03.38 / Latin-1 / UCS2 encoders against npm smpp 0.5.1's.
set -euo pipefail
src=${GW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${GW_BUILD_DIR:-$src/build}
tool=$build/smpp_text_tool
[ -x "$tool" ] || { echo "missing $tool (build first)" >&2; exit 1; }
[ -d "$src/tests/interop/node_modules/smpp" ] || { echo "npm smpp missing: (cd tests/interop && npm ci)" >&2; exit 1; }
exec node "$src/tests/interop/smpp_text.js" "$tool"
