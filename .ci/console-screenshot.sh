#!/usr/bin/env bash
# The web console (`callscript serve`) in headless Chromium: the wallboard while a simulated
# campaign runs in another process on the same store (its numbers must fill in), the report,
# and one call's page. Screenshots in target/console-*.png for a look.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/callscript
[ -x "$bin" ] || cargo build -q
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r examples/loan_reminder/. "$work/"
rm -f "$work"/*.db "$work"/*.db-*
token=0123456789abcdef0123456789abcdef
# A campaign that takes a while: a virtual day runs in about 5 minutes at this speed.
"$bin" run "$work/campaign.toml" --start 2026-11-24T00:30:00Z --speed 300 -q > /dev/null &
pids+=($!)
CALLSCRIPT_SERVE_TOKEN=$token "$bin" serve "$work/campaign.toml" --listen 127.0.0.1:0 2> "$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do grep -q 'http://' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)
[ -n "$addr" ] || { echo "serve did not start: $(cat "$work/serve.log")" >&2; exit 1; }
chrome=$(command -v chromium || command -v chromium-browser)
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$work/profile")
# Calls must be on while the wallboard is looked at.
for _ in $(seq 100); do
  live=$(curl -s "$addr/api/live" | grep -o '"attempts":[0-9]*' | head -1 | cut -d: -f2 || true)
  [ "${live:-0}" -gt 0 ] && break
  sleep 0.2
done
"$chrome" "${flags[@]}" --virtual-time-budget=3000 --dump-dom "$addr/" > "$work/wallboard.html" 2>/dev/null
attempts=$(grep -o 'id="attempts">[0-9]*<' "$work/wallboard.html" | grep -o '[0-9]*' || true)
if [ -z "$attempts" ] || [ "$attempts" -eq 0 ]; then
  echo "the wallboard's numbers did not fill in" >&2
  exit 1
fi
"$chrome" "${flags[@]}" --virtual-time-budget=3000 --window-size=1200,900 --screenshot="$work/wallboard.png" "$addr/" 2>/dev/null
"$chrome" "${flags[@]}" --window-size=1000,2400 --screenshot="$work/report.png" "$addr/report" 2>/dev/null
call=$(curl -s -H "Authorization: Bearer $token" "$addr/calls?disposition=answered" | grep -o '/calls/[A-Z0-9]*/[0-9]*' | head -1)
[ -n "$call" ] || { echo "the call list shows no answered call" >&2; exit 1; }
"$chrome" "${flags[@]}" --window-size=1000,1600 --screenshot="$work/call.png" "$addr$call?token=$token" 2>/dev/null
mkdir -p target
for page in wallboard report call; do
  size=$(stat -c %s "$work/$page.png")
  if [ "$size" -lt 15000 ]; then
    echo "the $page screenshot is suspiciously small ($size bytes)" >&2
    exit 1
  fi
  cp "$work/$page.png" "target/console-$page.png"
done
echo "console rendered in Chromium: wallboard ($attempts attempts while the campaign ran), report, call $call (target/console-*.png)"
