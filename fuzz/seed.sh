#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with small seed files: the first lines of the
# sample-data exports, a small platform export in each format, and signed
# auditlens exports of a small archive made with the CLI (signed with the
# test key fuzz/seeds/fuzz.key, which the fuzz targets check signatures with).
#
#   fuzz/seed.sh            # uses target/debug/auditlens, building it if absent
#   AUDITLENS=path/to/auditlens fuzz/seed.sh
#
# Existing corpus files are kept (libFuzzer names them by content hash), so
# seeding again after a run only adds the seeds back. The committed corpus
# already holds what survived `cargo fuzz cmin` of these seeds and of the
# runs in fuzz/RESULTS.md; seed again when a format changes. The exports are
# made afresh (new archive id and times) on every run, so they differ each time.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz")"
cd "$root"
bin="${AUDITLENS:-${CARGO_TARGET_DIR:-$root/target}/debug/auditlens}"
if [ ! -x "$bin" ]; then
  echo "seed.sh: building $bin"
  cargo build --quiet --bin auditlens
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
key="$fuzz/seeds/fuzz.key"
al() { # runs the CLI quietly; shows its output if it fails
  "$bin" "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "seed.sh: auditlens $* failed" >&2; exit 1; }
}
corpus="$fuzz/corpus"

# Platform exports: a small sample in each format, and the head of sample-data's.
al sample --entries 8 --seed 3 -o "$work/platform.json"
al sample --entries 8 --seed 3 -o "$work/platform.jsonl"
al sample --entries 8 --seed 3 -o "$work/platform.csv"
head -n 10 sample-data/platform-export.jsonl >"$work/sample-head.jsonl"
head -n 10 sample-data/platform-export.csv >"$work/sample-head.csv"

# An archive of 12 entries and its signed exports (all entries, and a filtered
# subset whose seqs have gaps), with their inclusion proofs.
al ingest --archive "$work/a.sqlite" "$work/platform.jsonl"
al sample --entries 4 --seed 4 -o "$work/more.csv"
al ingest --archive "$work/a.sqlite" "$work/more.csv"
for f in json ndjson csv; do
  al export "$work/a.sqlite" --format "$f" --sign "$key" -o "$work/export.$f"
  al export "$work/a.sqlite" --format "$f" --action update -o "$work/subset.$f"
done
"$bin" checkpoint "$work/a.sqlite" --sign "$key" >"$work/signed.checkpoint"
"$bin" checkpoint "$work/a.sqlite" >"$work/plain.checkpoint"

put() { # put TARGET FILE... : copies each file into the target's corpus
  local t="$1"
  shift
  mkdir -p "$corpus/$t"
  for f in "$@"; do
    cp "$f" "$corpus/$t/seed-$(basename "$f")"
  done
}

put detect_and_read "$work"/platform.{json,jsonl,csv} "$work"/sample-head.{jsonl,csv} \
  "$work"/export.{json,ndjson,csv} "$work"/subset.ndjson
put platform_csv "$work"/platform.csv "$work"/sample-head.csv "$work"/export.csv "$work"/subset.csv
put platform_json "$work"/platform.{json,jsonl} "$work"/sample-head.jsonl "$work"/export.{json,ndjson} \
  "$work"/subset.json tests/vectors/platform-rows.jsonl

# export_verify: the export, then for CSV the separator and its proof sidecar.
sep() { printf '\n\0sidecar\0\n'; }
put export_verify "$work"/export.{json,ndjson} "$work"/subset.{json,ndjson}
{ cat "$work/export.csv"; sep; cat "$work/export.csv.proof.json"; } >"$work/export-csv+sidecar"
{ cat "$work/subset.csv"; sep; cat "$work/subset.csv.proof.json"; } >"$work/subset-csv+sidecar"
put export_verify "$work/export-csv+sidecar" "$work/subset-csv+sidecar" "$work/export.csv"

# checkpoint_note: checkpoints, keys, the proof sidecar, and one exported entry with its proof.
sed -n 2p "$work/export.ndjson" >"$work/entry-with-proof.json"
put checkpoint_note "$work"/signed.checkpoint "$work"/plain.checkpoint \
  sample-data/audit-sample.checkpoint "$key" "$key.pub" "$work/export.csv.proof.json" \
  "$work/entry-with-proof.json"

# json: single JSON texts (records, states, headers, vectors).
sed -n 3p "$work/platform.jsonl" >"$work/platform-row.json"
sed -n 1p "$work/export.ndjson" >"$work/export-header.json"
put json "$work"/platform.json "$work"/platform-row.json "$work"/export-header.json \
  "$work"/entry-with-proof.json "$work"/export.json tests/vectors/proofs-v1.json

# archive_verify: flag byte, optional cut offset, 4-byte patches on the committed
# archive fuzz/seeds/archive.sqlite (see fuzz/harness/src/targets/archive_verify.rs).
mkdir -p "$corpus/archive_verify"
printf '\x03' >"$corpus/archive_verify/seed-intact"
printf '\x01' >"$corpus/archive_verify/seed-intact-no-keys"
printf '\x07\x00\x30\x00' >"$corpus/archive_verify/seed-cut"
printf '\x03\x64\x00\x00\x07' >"$corpus/archive_verify/seed-header-byte"
printf '\x03\x00\x10\x00\x00\x08\x10\x00\x0d\x00\x20\x00\x01' >"$corpus/archive_verify/seed-page2"
printf '\x03\xf0\x2f\x00\x41\xf8\x3f\x00\x7a' >"$corpus/archive_verify/seed-records"

# Seeds larger than 50 KB would slow every target down; there should be none.
big=$(find "$corpus" -type f -name 'seed-*' -size +50k | head -n 5)
if [ -n "$big" ]; then
  echo "seed.sh: seeds over 50 KB: $big" >&2
  exit 1
fi
for t in "$corpus"/*/; do
  printf 'seed.sh: %-16s %3d files\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done
