#!/usr/bin/env bash
# Regenerate src/gen from proto/ with buf (its npm package ships the binary) and
# protoc-gen-es v2. The output is committed; run this after editing any .proto file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
command -v buf >/dev/null && command -v protoc-gen-es >/dev/null || {
  echo "buf or protoc-gen-es missing: run npm install" >&2; exit 1; }
buf generate
# list what was written
find src/gen -name '*.ts' | sort
