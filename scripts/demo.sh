#!/usr/bin/env bash
# The main job: a real agent task on the embedded offline model in a sample workspace.
# State lives in .demo/ (CODETETHER_HOME) so the demo never touches your own config.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CODETETHER_HOME="${CODETETHER_HOME:-$root/.demo/home}"
ws="$root/.demo/workspace"
mkdir -p "$ws"
cat > "$ws/greet.py" <<'PY'
def greet(name):
    """Return a friendly greeting."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    print(greet("world"))
PY
# The model file arrives on its own (no `llm` package stack): a no-op when present.
python -m codetether.daemon.cli.models_pull
trap 'codetether daemon stop >/dev/null 2>&1 || true' EXIT
codetether run --yes --workspace "$ws" "${1:-Explain what the greet function in @greet.py does.}"
