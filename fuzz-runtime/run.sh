#!/usr/bin/env bash
# Builds the runtime's fuzz targets (SIP and media handlers, the recogniser, the customer-list
# loader) with libFuzzer's coverage instrumentation on stable Rust (the flags cargo-fuzz
# passes, minus the nightly-only sanitizer), seeds the corpora from the project's test inputs,
# and runs each target for SECONDS (default 30). `.ci/fuzz` calls it for CI's short runs.
#   fuzz-runtime/run.sh [SECONDS] [TARGET...]
# `cargo fuzz run <target>` (nightly, or RUSTC_BOOTSTRAP=1) works on this crate as well.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
shift || true
targets=("$@")
all=(sdp sip_response rtp jitter recording recognise customers)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts and proc macros (they would not link).
host="$(rustc -vV | sed -n 's/^host: //p')"
fuzz_bins=()
for t in "${all[@]}"; do fuzz_bins+=(--bin "$t"); done
start=$(date +%s)
cargo build --release "${fuzz_bins[@]}" --target "$host"
echo "fuzz-runtime build: $(($(date +%s) - start)) s"
bin="target/$host/release"
# The seed writer is an example of the runtime, built with the main workspace (without the
# coverage flags, which need libFuzzer's symbols; `cargo test --workspace` has built it).
if [ ! -d corpus/recording ]; then
  (cd .. && RUSTFLAGS="" cargo run -q -p callscript-runtime --example fuzz_seeds -- fuzz-runtime/corpus)
fi
bash seed.sh
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t (${seconds}s)"
  # -rss_limit_mb: a handler that allocates without bound is a crash, not a slow machine.
  extra=()
  case $t in
    customers) extra=(-dict=customers.dict -max_len=4096) ;;
  esac
  "./$bin/$t" "corpus/$t" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=5 "${extra[@]}" \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"artifacts/$t.log" 2>&1 || status=1
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done" "artifacts/$t.log" || true
  # libFuzzer exits non-zero and leaves an artifact on a crash, a hang or an OOM.
  if [ $status -ne 0 ] || ls "artifacts/$t"/* >/dev/null 2>&1; then
    tail -30 "artifacts/$t.log" >&2
    echo "fuzz target $t found a failing input: fuzz-runtime/artifacts/$t/" >&2
    exit 1
  fi
done
