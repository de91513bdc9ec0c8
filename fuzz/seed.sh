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
# Patterns and utterances: the phrases of the examples, one per file.
mkdir -p corpus/pattern corpus/recognise
grep -rhoE 'phrases[^\n]*' $calls 2>/dev/null | grep -oE '"[^"]*"' | tr -d '"' | sort -u | head -500 |
  while IFS= read -r phrase; do
    printf '%s' "$phrase" > "corpus/pattern/$(printf '%s' "$phrase" | sha1sum | cut -c1-16)"
    printf '%s\n%s\n' "$phrase" "$phrase" > "corpus/recognise/$(printf 'r%s' "$phrase" | sha1sum | cut -c1-16)"
  done
# Compiled programs for the `.callc` loader, if a built binary is at hand.
mkdir -p corpus/callc
bin=$root/target/debug/callscript
if [ -x "$bin" ]; then
  for f in "$root"/examples/*/*.call; do
    out="corpus/callc/$(basename "$f" .call).callc"
    "$bin" build "$f" -o "$out" >/dev/null 2>&1 || true
  done
fi
