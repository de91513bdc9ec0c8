#!/usr/bin/env bash
# Tests of the editor support: the VS Code extension (grammar, configuration, snippets,
# extension.js, and a packaged .vsix) and the Vim files. Runs from any working directory.
set -euo pipefail

editors="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vscode="$editors/vscode"
vim_dir="$editors/vim"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== editors/vscode: install"
cd "$vscode"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required for the VS Code extension tests" >&2
  exit 1
fi
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi

echo "== editors/vscode: npm test"
npm test

echo "== editors/vscode: package"
npm run package -- --out "$tmp/callscript.vsix"
test -s "$tmp/callscript.vsix"
mkdir "$tmp/vsix"
if command -v unzip >/dev/null 2>&1; then
  unzip -q "$tmp/callscript.vsix" -d "$tmp/vsix"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$tmp/callscript.vsix" "$tmp/vsix"
fi
for f in extension/package.json extension/extension.js extension/language-configuration.json \
  extension/syntaxes/callscript.tmLanguage.json extension/snippets/callscript.json; do
  if [[ ! -f "$tmp/vsix/$f" ]]; then
    echo "the .vsix lacks $f" >&2
    exit 1
  fi
done
if [[ -e "$tmp/vsix/extension/test" ]]; then
  echo "the .vsix holds the tests (see .vscodeignore)" >&2
  exit 1
fi
node "$vscode/test/vsix-smoke.js" "$tmp/vsix"

echo "== editors/vim"
if command -v vim >/dev/null 2>&1; then
  cd "$editors"
  vim -Nu NONE -i NONE -es --cmd "set rtp^=$vim_dir" -S "$vim_dir/test/run.vim" </dev/null
elif [[ -n "${CALLSCRIPT_REQUIRE_VIM:-}" ]]; then
  # CI installs vim and sets this: there a missing vim fails instead of passing unchecked.
  echo "vim is required for the Vim syntax check" >&2
  exit 1
else
  echo "vim not found: skipping the Vim syntax check"
fi

echo "== editors: all tests passed"
