#!/usr/bin/env bash
# CI entry point of the VS Code extension: install, type-check, test, package.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
else
    npm install --no-audit --no-fund
fi
npx tsc -p .
npm test
npx vsce package --out codetether-0.1.0.vsix
