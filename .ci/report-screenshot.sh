#!/usr/bin/env bash
# Renders the example campaign's HTML report in headless Chromium: the DOM must hold every
# chart, and a screenshot must come out (kept in target/report.png for a look).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/callscript
[ -x "$bin" ] || cargo build -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/loan_reminder/. "$work/"
rm -f "$work"/*.db "$work"/*.db-*
"$bin" run "$work/campaign.toml" --start 2026-11-24T00:00:00Z -q > /dev/null
"$bin" report "$work/campaign.toml" --format html -o "$work/report.html"
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "chromium is not installed" >&2
  exit 1
fi
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$work/profile")
"$chrome" "${flags[@]}" --dump-dom "file://$work/report.html" > "$work/dom.html" 2>/dev/null
charts=$(grep -o '<figure>' "$work/dom.html" | wc -l)
if [ "$charts" -lt 8 ]; then
  echo "the rendered report has $charts charts, expected 8" >&2
  exit 1
fi
grep -q 'connect rate' "$work/dom.html"
"$chrome" "${flags[@]}" --window-size=1000,2400 --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
size=$(stat -c %s "$work/report.png")
if [ "$size" -lt 20000 ]; then
  echo "the screenshot is suspiciously small ($size bytes)" >&2
  exit 1
fi
mkdir -p target && cp "$work/report.png" target/report.png
echo "report rendered in Chromium: $charts charts, screenshot $size bytes (target/report.png)"
