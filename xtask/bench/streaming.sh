#!/usr/bin/env bash
# Streaming benchmark of `tandem caption` (issue: incremental pipeline): peak RSS, time to the
# first result in --out and total time, for N inputs, for two binaries in the same run, with
# their ratios. Inputs are N distinct paths (symlinks) to the committed example photos, given
# as a folder; the models are the tiny fixture checkpoints, so the run measures the pipeline,
# not the models.
#
#   xtask/bench/streaming.sh BEFORE_BIN AFTER_BIN N [TIMEOUT_S]
#
# A run still going after TIMEOUT_S (default 600) is stopped; its RSS and first-result time
# up to then are reported (marked "stopped").
set -euo pipefail
before=$1 after=$2 n=$3 limit=${4:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/in"
photos=(astronaut.png chelsea.png coffee.png rocket.jpg)
for ((i = 0; i < n; i++)); do
  p=${photos[$((i % 4))]}
  ln -s "$root/examples/images/$p" "$work/in/$(printf 'img%06d' "$i").${p##*.}"
done

run() { # bin tag -> "rss_kb first_s total_s status"
  local bin=$1 out="$work/$2.jsonl" t0 first="" status=done
  rm -f "$out"
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/$2.rss" timeout "$limit" "$bin" caption "$work/in" \
    --blip-model "$root/crates/tandem-blip/tests/fixtures/blip-tiny-a" \
    --clip-model "$root/crates/tandem-clip/tests/fixtures/clip-tiny-a" \
    -n 2 --max-length 8 -q --no-progress --out "$out" 2>/dev/null &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$first" ] && [ -s "$out" ]; then first=$(echo "$(date +%s.%N) - $t0" | bc); fi
    sleep 0.05
  done
  wait "$pid" || status=stopped
  local total; total=$(echo "$(date +%s.%N) - $t0" | bc)
  [ -n "$first" ] || first=none
  echo "$(tail -n1 "$work/$2.rss" | grep -o '[0-9]*$') $first $total $status $(wc -l < "$out" 2>/dev/null || echo 0)"
}

lscpu | grep -E 'Model name|Flags' | sed 's/^/# /' | cut -c1-200
read -r rb fb tb sb lb <<<"$(run "$before" before)"
read -r ra fa ta sa la <<<"$(run "$after" after)"
printf '%-7s %12s %16s %10s %8s %8s\n' run peak_rss_MB first_result_s total_s status results
printf '%-7s %12.1f %16s %10.1f %8s %8s\n' before "$(echo "$rb/1024" | bc -l)" "$fb" "$tb" "$sb" "$lb"
printf '%-7s %12.1f %16s %10.1f %8s %8s\n' after "$(echo "$ra/1024" | bc -l)" "$fa" "$ta" "$sa" "$la"
echo "ratios after/before: peak RSS $(echo "scale=3; $ra/$rb" | bc), total time $(echo "scale=3; $ta/$tb" | bc)"
if [ "$fb" != none ] && [ "$fa" != none ]; then
  echo "time to first result after/before: $(echo "scale=4; $fa/$fb" | bc)"
fi
