#!/usr/bin/env bash
# Renders the example campaign's HTML report in headless Chromium: the DOM must hold every
# chart, and a screenshot must come out (kept in target/report.png for a look). Then the
# campaign of tests/lets, whose report sums a money let and charts a date let of goal calls
# (per goal outcome: it has two).
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
grep -q '接通率' "$work/dom.html"
"$chrome" "${flags[@]}" --window-size=1000,2400 --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
size=$(stat -c %s "$work/report.png")
if [ "$size" -lt 20000 ]; then
  echo "the screenshot is suspiciously small ($size bytes)" >&2
  exit 1
fi
mkdir -p target && cp "$work/report.png" target/report.png
echo "report rendered in Chromium: $charts charts, screenshot $size bytes (target/report.png)"

mkdir "$work/lets"
cp tests/lets/promise.call tests/lets/campaign.toml tests/lets/customers.csv "$work/lets/"
"$bin" run "$work/lets/campaign.toml" --start 2026-11-24T00:00:00Z -q > /dev/null
"$bin" report "$work/lets/campaign.toml" --format html -o "$work/lets/report.html"
"$chrome" "${flags[@]}" --dump-dom "file://$work/lets/report.html" > "$work/lets/dom.html" 2>/dev/null
for expected in 'pay_amount · 达成目标的通话 [0-9]* 笔合计</span><strong>[0-9,]*\.[0-9][0-9]<' \
                'pay_amount · promised 通话 [0-9]* 笔合计' 'pay_date（promised 通话）按日期'; do
  if ! grep -q "$expected" "$work/lets/dom.html"; then
    echo "the rendered lets report lacks $expected" >&2
    exit 1
  fi
done
# A bar of the date chart: the date, then its bar (a text of its own in the SVG).
if ! grep -A3 -x '2026-11-25' "$work/lets/dom.html" | grep -q '<rect'; then
  echo "the rendered lets report has no bar for 2026-11-25" >&2
  exit 1
fi
"$chrome" "${flags[@]}" --window-size=1000,1800 --screenshot="$work/lets/report.png" "file://$work/lets/report.html" 2>/dev/null
cp "$work/lets/report.png" target/report-lets.png
echo "lets report rendered in Chromium: money sum and date chart (target/report-lets.png)"
