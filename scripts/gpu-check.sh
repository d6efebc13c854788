#!/usr/bin/env bash
# The prepared GPU check for the CUDA backend: run it, as one command, on a machine with an
# NVIDIA GPU (driver installed; no network needed once the crates are vendored/built).
#
#   scripts/gpu-check.sh [--quick]      # writes target/gpu-check/report.txt and prints it
#
# 1. conformance: every op against the reference, and every matmul/attention kernel variant (CI
#    runs them on the CUDA simulator; here, the GPU)
# 2. golden parity: CLIP and BLIP outputs/ids on CUDA vs transformers; device preprocessing vs CPU
# 3. kernel benches: GEMM TFLOP/s against the device's dense bf16 peak, attention GB/s
# 4. BLIP captioning at full size (random weights) at 1, 8 and 64 images per call, f32 and bf16
#
# NVRTC: from a CUDA toolkit on the loader path, or TANDEM_CUDA_NVRTC=/path/libnvrtc.so.12
# (e.g. the `nvidia-cuda-nvrtc-cu12` wheel's nvidia/cuda_nvrtc/lib/libnvrtc.so.12).
set -uo pipefail
cd "$(dirname "$0")/.."
case "${LD_LIBRARY_PATH:-}" in
  *cuda-sim*) echo "LD_LIBRARY_PATH points at the CUDA simulator ($LD_LIBRARY_PATH): this check is for a real GPU" >&2; exit 2;;
esac
quick=0
[ "${1:-}" = "--quick" ] && quick=1
out=target/gpu-check
mkdir -p "$out"
report="$out/report.txt"
: > "$report"
status=0

step() {
  local name=$1; shift
  echo "=== $name: $*" | tee -a "$report"
  local t0=$(date +%s)
  if "$@" > "$out/$name.log" 2>&1; then
    echo "    ok ($(( $(date +%s) - t0 )) s)" | tee -a "$report"
  else
    echo "    FAILED ($(( $(date +%s) - t0 )) s); last lines:" | tee -a "$report"
    status=1
  fi
  tail -n 40 "$out/$name.log" | sed 's/^/    /' >> "$report"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | sed 's/^/gpu: /' | tee -a "$report"
cases=64
[ $quick = 1 ] && cases=16

step build cargo build --release -p tandem-cuda -p tandem-blip -p tandem-clip --examples --tests
step kernels-compile cargo test --release -p tandem-cuda --test kernels_compile
# The conformance suite and the matmul/attention variant tests (every ignored test of tandem-cuda).
step device-tests env TANDEM_CONFORMANCE_CASES=$cases cargo test --release -p tandem-cuda -- --ignored
step no-device-errors cargo test --release -p tandem-cuda --test no_device
step clip-parity cargo test --release -p tandem-clip --test parity_cuda -- --ignored
step blip-parity cargo test --release -p tandem-blip --test parity -- --ignored cuda
step cli-cuda cargo test --release -p tandem-cli --test cuda -- --ignored
step kernel-bench cargo run --release -p tandem-benches --bin cuda_kernels -- $([ $quick = 1 ] && echo --quick)
images=64
[ $quick = 1 ] && images=16
for dtype in f32 bf16; do
  for batch in 8 64; do
    [ $batch -gt $images ] && continue
    step "blip-$dtype-batch$batch" cargo run --release -p tandem-benches --bin blip_captioning -- \
      --backend cuda --dtype $dtype --images $images --captions 3 --max-length 30 --batch $batch
  done
done

echo "=== report: $report" 
cat "$report"
exit $status
