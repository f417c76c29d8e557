#!/usr/bin/env bash
# The parsers of untrusted input under libFuzzer (swiftc's -sanitize=fuzzer, with the address
# sanitizer): glance-api.conf and its validation, Swift reference files, http index pages, Swift
# listings, vSphere SOAP answers (Sources/FuzzTargets says what must hold for any input). Each target starts from its
# corpus (Tests/FuzzCorpusTests/corpus/<target>, which the test suite replays) and runs RUNS inputs
# (default 1,000,000); what it finds worth keeping is merged back into the corpus. Prints one line
# per target: "fuzz TARGET RUNS CRASHES". A crash leaves its input in .build-fuzz/crashes/.
#     bash scripts/fuzz.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=("${@:-config swift-references index-page swift-listing vsphere-answer}")
read -r -a targets <<< "${targets[*]}"

swift-build --scratch-path .build-fuzz --product storefs-fuzz -c release \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSTOREFS_FUZZ -Xswiftc -use-ld=lld >/dev/null
bin=.build-fuzz/release/storefs-fuzz
mkdir -p .build-fuzz/crashes .build-fuzz/found
status=0
for target in "${targets[@]}"; do
  corpus=Tests/FuzzCorpusTests/corpus/$target
  found=.build-fuzz/found/$target
  rm -rf "$found"; mkdir -p "$found"
  log=.build-fuzz/$target.log
  set +e
  STOREFS_FUZZ_TARGET=$target "$bin" -runs="$runs" -timeout=5 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix=.build-fuzz/crashes/"$target"- "$found" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  executed=$(grep -o 'Done [0-9]* runs' "$log" | awk '{print $2}' | tail -1 || true)
  crashes=$(ls .build-fuzz/crashes | grep -c "^$target-" || true)
  echo "fuzz $target ${executed:-0} $crashes"
  [ "$rc" = 0 ] || { status=1; tail -n 30 "$log" >&2; }
  # What it found, minimized into the corpus (a few hundred small files at most).
  STOREFS_FUZZ_TARGET=$target "$bin" -merge=1 -max_len=16384 "$corpus" "$found" >/dev/null 2>&1 || true
done
exit $status
