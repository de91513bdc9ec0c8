#!/usr/bin/env bash
# Seeds the corpora of the recogniser and customer-list targets (corpus/<target>/, not
# committed) from the examples; the SIP and media seeds come from the runtime's `fuzz_seeds` example (run.sh).
# Safe to run again: files are named by content.
set -euo pipefail
cd "$(dirname "$0")"
root=..
calls=$(find "$root/examples" "$root/tests/cases" "$root/stdlib" -name '*.call' 2>/dev/null | sort)
# Utterances and patterns: each phrase of the examples as the utterance and as a pattern.
mkdir -p corpus/recognise
# shellcheck disable=SC2086
grep -rhoE 'phrases[^\n]*' $calls 2>/dev/null | grep -oE '"[^"]*"' | tr -d '"' | sort -u | head -500 |
  while IFS= read -r phrase; do
    printf '%s\n%s\n' "$phrase" "$phrase" > "corpus/recognise/$(printf 'r%s' "$phrase" | sha1sum | cut -c1-16)"
  done
# Customer lists: the head of each example's list (they run to 290 KB; 20 lines seed as
# well), and a few rows shaped like the `customers` target's strict script (every input type
# required), good and bad.
mkdir -p corpus/customers
for f in "$root"/examples/*/customers*.csv; do
  head -n 20 "$f" > "corpus/customers/$(head -n 20 "$f" | sha1sum | cut -c1-16)"
done
strict='id,phone,customer_name,days_overdue,amount_due,account_tail,pin,due,consent,timezone'
row() { printf '%s\n' "$strict" "$@" > "corpus/customers/$(printf '%s\n' "$@" | sha1sum | cut -c1-16)"; }
row 'c1,13800000001,张三,5,1200.50,8831,1234,2026-11-24,true,Asia/Shanghai' \
  'c2,010-12345678,李四,0,0,3318,7,2026-01-31,否,'
row 'c1,+8613800000001,"王, 芳",12,3560.00,5516,42,2026-11-24,是,Asia/Singapore' \
  'c1,13800000002,"a ""quoted"" name",x,-5,2208,abc123def,2026-13-40,maybe,Mars/Base'
row ',(555) 010-4477,Ann,3,9.99,7390,1,2026-02-28,yes,America/New_York' \
  'c9,555 010 4478,Bob,,1.5,1024,,2026-11-24,no,UTC' 'c10,1'
printf 'phone,customer_name,phone\r\n13800000001,张三,13800000002\r\n' > corpus/customers/dup-header
printf 'phone,customer_name\n' > corpus/customers/no-rows
printf 'phone,customer_name\n13800000001,\xe5\xbc\xa0\xff\n' > corpus/customers/not-utf8
