#!/usr/bin/env bash
# Seeds each target's corpus (fuzz/corpus/<target>/, not committed) from the examples, the
# test cases and the regression inputs. Safe to run again: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
root=..
seed() { # target files...
  local target=$1; shift
  mkdir -p "corpus/$target"
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "corpus/$target/$(sha1sum "$f" | cut -c1-16)"
  done
}
calls=$(find "$root/examples" "$root/tests/cases" "$root/stdlib" "$root/tests/regressions" -name '*.call' 2>/dev/null | sort)
for target in parse check fmt_roundtrip; do
  # shellcheck disable=SC2086
  seed "$target" $calls
done
# Patterns: the phrases of the examples, one per file.
mkdir -p corpus/pattern
grep -rhoE 'phrases[^\n]*' $calls 2>/dev/null | grep -oE '"[^"]*"' | tr -d '"' | sort -u | head -500 |
  while IFS= read -r phrase; do
    printf '%s' "$phrase" > "corpus/pattern/$(printf '%s' "$phrase" | sha1sum | cut -c1-16)"
  done
# Compiled programs for the `.callc` loader, if a built binary is at hand.
mkdir -p corpus/callc
bin=$root/target/debug/callscript
if [ -x "$bin" ]; then
  for f in "$root"/examples/*/*.call "$root"/tests/cases/ok/*.call; do
    out="corpus/callc/$(basename "$f" .call).callc"
    "$bin" build "$f" -o "$out" >/dev/null 2>&1 || true
  done
fi
# Campaign files (TOML and JSON tasks) for the campaign reader.
mkdir -p corpus/campaign
for f in $(find "$root/examples" "$root/tests/cases" -name '*.toml' -o -name 'task.json' 2>/dev/null | sort); do
  cp "$f" "corpus/campaign/$(sha1sum "$f" | cut -c1-16)"
done
# Utterances for the extractors: the first column of the extractors' table.
mkdir -p corpus/extract
cut -f1 "$root/compiler/tests/extract/cases.tsv" | grep -v '^#' | head -600 |
  while IFS= read -r line; do
    printf '%s' "$line" > "corpus/extract/$(printf '%s' "$line" | sha1sum | cut -c1-16)"
  done
