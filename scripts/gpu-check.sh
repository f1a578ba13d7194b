#!/usr/bin/env bash
# gpu-check.sh: check Typhon's GPU telemetry (gpu/nvml) on a machine with an
# NVIDIA GPU.
#
# It builds gpu/nvml/cmd/gpucheck with cgo (Go and gcc needed), runs a ~10 s
# PyTorch matmul load on the GPU while gpucheck samples NVML every 100 ms, and
# prints one table: samples taken, peak memory, peak power, peak utilisation,
# energy, and the sampler's own CPU use (which must stay under 1% of one core).
# When nvidia-smi is there, its peaks over the same load are printed beside.
#
#   scripts/gpu-check.sh          build (where Go is installed) and run
#   scripts/gpu-check.sh build    build only, e.g. to carry the binary to a GPU
#                                 machine without Go (then run it there with
#                                 GPUCHECK_BIN pointing at it)
#
# Environment: GPUCHECK_BIN (the binary; default
# ${XDG_CACHE_HOME:-~/.cache}/typhon/gpucheck), LOAD_SECONDS (default 10),
# INTERVAL (default 100ms), PYTHON (default python3).
#
# Exit status: 0 checked; 2 no GPU here (no driver or no device: nothing was
# checked, the reason is printed); 1 any other failure.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${GPUCHECK_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/typhon/gpucheck}
LOAD_SECONDS=${LOAD_SECONDS:-10}
INTERVAL=${INTERVAL:-100ms}
PYTHON=${PYTHON:-python3}

build() {
	if ! command -v go >/dev/null 2>&1; then
		echo "gpu-check: go is not installed here; build with '$0 build' elsewhere and set GPUCHECK_BIN" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$BIN")"
	# go-nvml's header marks some NVML calls deprecated; those warnings are noise.
	CGO_ENABLED=1 CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations" \
		go build -o "$BIN" ./gpu/nvml/cmd/gpucheck
}

case "${1:-run}" in
build)
	build
	echo "gpu-check: built $BIN"
	exit 0
	;;
run) ;;
*)
	echo "usage: $0 [build|run]" >&2
	exit 1
	;;
esac

if command -v go >/dev/null 2>&1; then
	build
elif [ ! -x "$BIN" ]; then
	echo "gpu-check: go is not installed and $BIN does not exist; build it with '$0 build' and set GPUCHECK_BIN" >&2
	exit 1
fi

work=$(mktemp -d)
smi_pid=
cleanup() {
	if [ -n "$smi_pid" ]; then kill "$smi_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/load.py" <<'EOF'
# A GPU load for gpu-check.sh: fp16 matmuls for argv[1] seconds, holding 2 GiB
# besides, so that memory, power and utilisation all move.
import sys
import time

try:
    import torch
except ImportError as e:
    sys.exit(f"gpu-check load: no PyTorch: {e}")
if not torch.cuda.is_available():
    sys.exit("gpu-check load: PyTorch sees no CUDA device")
secs = float(sys.argv[1])
n = 8192
hold = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
a = torch.randn(n, n, device="cuda", dtype=torch.float16)
b = torch.randn(n, n, device="cuda", dtype=torch.float16)
torch.cuda.synchronize()
start = time.monotonic()
iters = 0
while time.monotonic() - start < secs:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
    iters += 10
took = time.monotonic() - start
print(f"gpu-check load: {iters} fp16 matmuls {n}x{n} in {took:.1f} s, "
      f"{2 * n**3 * iters / took / 1e12:.0f} TFLOP/s", file=sys.stderr)
EOF

load=()
if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
	load=(-- "$PYTHON" "$work/load.py" "$LOAD_SECONDS")
else
	echo "gpu-check: $PYTHON has no PyTorch, so no load will run; a GPU would be sampled idle for ${LOAD_SECONDS}s" >&2
fi

if command -v nvidia-smi >/dev/null 2>&1; then
	nvidia-smi --query-gpu=memory.used,power.draw,utilization.gpu --format=csv,noheader,nounits -lms 200 \
		>"$work/smi.csv" 2>/dev/null &
	smi_pid=$!
fi

set +e
"$BIN" -interval "$INTERVAL" -duration "${LOAD_SECONDS}s" "${load[@]}"
rc=$?
set -e

if [ -n "$smi_pid" ]; then
	kill "$smi_pid" 2>/dev/null || true
	wait "$smi_pid" 2>/dev/null || true
	smi_pid=
	# One line per GPU per poll: "memory, power, util" (power may read [N/A]).
	awk -F', *' '
		{ if ($1+0 > m) m = $1+0; if ($2+0 > p) p = $2+0; if ($3+0 > u) u = $3+0; n++ }
		END { if (n) printf "nvidia-smi over the same load (%d lines): peak memory %d MiB, peak power %.1f W, peak utilisation %d %%\n", n, m, p, u }
	' "$work/smi.csv"
fi

case $rc in
0) echo "gpu-check: OK" ;;
2) echo "gpu-check: no GPU here; nothing was checked" >&2 ;;
*) echo "gpu-check: FAILED (exit $rc)" >&2 ;;
esac
exit "$rc"
