#!/usr/bin/env bash
# gpu-check.sh: check Typhon's GPU telemetry (gpu/nvml) on a machine with an
# NVIDIA GPU, against nvidia-smi's readings taken during the same run.
#
#   scripts/gpu-check.sh [run]   gpucheck samples NVML every 100 ms around a ~10 s
#                                PyTorch matmul load; nvidia-smi polls beside it,
#                                and one table gives, per GPU, gpucheck's peak
#                                memory, power, energy and utilisation beside
#                                nvidia-smi's (per GPU, never a sum beside a max),
#                                and the sampler's own CPU use (under 1% of a core)
#   scripts/gpu-check.sh job     a quick Typhon job against an LLM server on the
#                                GPU, nvidia-smi logging meanwhile; then one row
#                                per test and GPU: VRAM, power, energy and J/token
#                                from the record beside nvidia-smi's over the same
#                                window
#   scripts/gpu-check.sh all     run, then job: the whole check in one call
#   scripts/gpu-check.sh build   build only (gpucheck, the typhon CLI and tinymodel,
#                                with cgo), e.g. to carry them to a GPU machine
#                                without Go
#   scripts/gpu-check.sh pack    (here, as root, after scripts/testbed.sh) make the
#                                llama-server bundle of TESTENV.md's GPU recipe:
#                                llama.cpp with its Vulkan backend and every library
#                                it loads, about 15 MB, for a machine without network
#
# The job's server: TYPHON_URL (one already running); else LLAMA_SERVER_CMD, a
# command line the script starts (and stops) that serves on LLAMA_PORT (default
# 8080); else the bundle (LLAMA_BUNDLE) with a model tinymodel writes there
# (MODEL_ARGS, default a 1.6 GB model: -embd 2048 -layers 8 -heads 16 -ff 5632),
# offloaded to the GPU through Vulkan.
#
# On a GPU machine lent without Go or network, from a checkout here:
#   GPU_CHECK_DIR=.gpu-check scripts/gpu-check.sh build
#   GPU_CHECK_DIR=.gpu-check scripts/gpu-check.sh pack
# then carry .gpu-check and run there, in one call:
#   NO_BUILD=1 GPU_CHECK_DIR=.gpu-check scripts/gpu-check.sh all
#
# Environment: GPU_CHECK_DIR (where the binaries and the bundle live; default
# ${XDG_CACHE_HOME:-~/.cache}/typhon), GPUCHECK_BIN, TYPHON_BIN, TINYMODEL_BIN,
# LLAMA_BUNDLE (default under GPU_CHECK_DIR), NO_BUILD=1 (use the binaries as they
# are), LOAD_SECONDS (default 10), INTERVAL (default 100ms), PYTHON (default
# python3), MODE (default quick), WORK (keep the record, the nvidia-smi log and the
# server's log there; default a temporary directory), NVIDIA_SMI (default
# nvidia-smi), VK_DRIVER_FILES (default: the NVIDIA ICD file found), TESTBED_ROOT
# (pack's llama.cpp root; default the test bed's).
#
# Exit status: 0 checked; 2 no GPU here (no driver or no device: nothing was
# checked, the reason is printed); 1 any other failure.
set -euo pipefail

cd "$(dirname "$0")/.."
CACHE=${GPU_CHECK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/typhon}
case $CACHE in /*) ;; *) CACHE=$PWD/$CACHE ;; esac
BIN=${GPUCHECK_BIN:-$CACHE/gpucheck}
TYPHON_BIN=${TYPHON_BIN:-$CACHE/typhon}
TINYMODEL_BIN=${TINYMODEL_BIN:-$CACHE/tinymodel}
LLAMA_BUNDLE=${LLAMA_BUNDLE:-$CACHE/llama-vulkan.tar.xz}
MODEL_ARGS=${MODEL_ARGS:--embd 2048 -layers 8 -heads 16 -ff 5632 -ctx 8192}
LOAD_SECONDS=${LOAD_SECONDS:-10}
INTERVAL=${INTERVAL:-100ms}
PYTHON=${PYTHON:-python3}
MODE=${MODE:-quick}
LLAMA_PORT=${LLAMA_PORT:-8080}
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
# What gpucheck -smi-log reads: one line per GPU per poll, in UTC.
SMI_QUERY=(--query-gpu=timestamp,index,memory.used,power.draw,utilization.gpu --format=csv,noheader,nounits -lms 100)

build() {
	if [ "${NO_BUILD:-}" = 1 ] && [ -x "$BIN" ] && [ -x "$TYPHON_BIN" ]; then
		return
	fi
	if ! command -v go >/dev/null 2>&1; then
		if [ -x "$BIN" ] && [ -x "$TYPHON_BIN" ]; then
			return
		fi
		echo "gpu-check: go is not installed here and $BIN or $TYPHON_BIN is missing; build them with '$0 build' elsewhere and set GPUCHECK_BIN and TYPHON_BIN" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$BIN")" "$(dirname "$TYPHON_BIN")"
	# go-nvml's header marks some NVML calls deprecated; those warnings are noise.
	export CGO_ENABLED=${CGO_ENABLED:-1} CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations"
	go build -o "$BIN" ./gpu/nvml/cmd/gpucheck
	go build -o "$TYPHON_BIN" ./examples/typhon
	go build -o "$TINYMODEL_BIN" ./internal/testmodel/cmd/tinymodel
}

work=${WORK:-}
if [ -z "$work" ]; then
	work=$(mktemp -d)
	own_work=1
fi
mkdir -p "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "${own_work:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# check_load: gpucheck around a PyTorch load, nvidia-smi beside it (per GPU).
check_load() {
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
	local load=() smi=()
	if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
		load=(-- "$PYTHON" "$work/load.py" "$LOAD_SECONDS")
	else
		echo "gpu-check: $PYTHON has no PyTorch, so no load will run; a GPU would be sampled idle for ${LOAD_SECONDS}s" >&2
	fi
	if command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
		smi=(-smi "$(command -v "$NVIDIA_SMI")")
	fi
	"$BIN" -interval "$INTERVAL" -duration "${LOAD_SECONDS}s" "${smi[@]}" "${load[@]}"
}

# alive: whether url answers 200 (curl, else python3).
alive() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null "$1" 2>/dev/null
	else
		"$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1
	fi
}

# start_server: start LLAMA_SERVER_CMD and wait for it; sets TYPHON_URL.
start_server() {
	if [ -n "${TYPHON_URL:-}" ]; then
		return
	fi
	if [ -z "${LLAMA_SERVER_CMD:-}" ] && [ -f "$LLAMA_BUNDLE" ]; then
		bundle_server || return 1
	fi
	if [ -z "${LLAMA_SERVER_CMD:-}" ]; then
		echo "gpu-check job: set TYPHON_URL (a running server) or LLAMA_SERVER_CMD (a command that serves on port $LLAMA_PORT), or make $LLAMA_BUNDLE with '$0 pack'" >&2
		return 1
	fi
	echo "gpu-check job: starting $LLAMA_SERVER_CMD" >&2
	(cd "${LLAMA_SERVER_DIR:-.}" && exec bash -c "exec $LLAMA_SERVER_CMD") >"$work/server.log" 2>&1 &
	pids+=($!)
	TYPHON_URL=http://127.0.0.1:$LLAMA_PORT
	for _ in $(seq 1 300); do
		if alive "$TYPHON_URL/health"; then
			return
		fi
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			echo "gpu-check job: the server exited; its log:" >&2
			tail -20 "$work/server.log" >&2
			return 1
		fi
		sleep 1
	done
	echo "gpu-check job: the server did not answer $TYPHON_URL/health within 300 s" >&2
	return 1
}

# bundle_server: unpack the llama-server bundle, write the model, and set
# LLAMA_SERVER_CMD to run it on the GPU through Vulkan. ggml finds its backends
# in the current directory, so the server starts in the bundle's backend folder.
bundle_server() {
	local r=$work/llama icd
	mkdir -p "$r"
	tar -C "$r" -xJf "$LLAMA_BUNDLE"
	if [ ! -f "$work/model.gguf" ]; then
		# shellcheck disable=SC2086 # MODEL_ARGS is a list of flags
		"$TINYMODEL_BIN" -o "$work/model.gguf" $MODEL_ARGS >&2
	fi
	if [ -z "${VK_DRIVER_FILES:-}" ]; then
		for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
			/etc/vulkan/icd.d/nvidia_icd.json; do
			if [ -f "$icd" ]; then
				export VK_DRIVER_FILES=$icd
				break
			fi
		done
	fi
	LLAMA_SERVER_DIR=$r/usr/lib/x86_64-linux-gnu/ggml/backends0
	LLAMA_SERVER_CMD="$r/lib64/ld-linux-x86-64.so.2 --library-path $r/usr/lib/x86_64-linux-gnu/llama:$r/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64 $r/usr/bin/llama-server -m $work/model.gguf -ngl 99 --host 127.0.0.1 --port $LLAMA_PORT -c 8192"
}

# pack: the llama-server bundle, from a copy of the test bed's llama.cpp root
# with the Vulkan backend added (Debian packages; needs root and the registry).
pack() {
	local src=${TESTBED_ROOT:-${TYPHON_TESTBED_DIR:-$HOME/.cache/typhon-testbed}/llama-root}
	local r=$work/root b=$work/bundle objs libs l
	[ -x "$src/usr/bin/llama-server" ] || { echo "gpu-check pack: no llama-server in $src (run scripts/testbed.sh)" >&2; return 1; }
	mkdir -p "$r" "$b" "$(dirname "$LLAMA_BUNDLE")"
	tar -C "$src" --exclude=./tmp --exclude=./proc --exclude=./sys --exclude=./dev -cf - . | tar -C "$r" -xf -
	mkdir -p "$r/tmp" "$r/dev" && chmod 1777 "$r/tmp"
	cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
	# A snapshot mirror's Release file may be past its Valid-Until: accept it.
	chroot "$r" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive
		apt-get -o Acquire::Check-Valid-Until=false update -qq &&
		apt-get install -y -qq --no-install-recommends libggml0-backend-vulkan libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libx11-6 libxext6' \
		>"$work/pack-apt.log" 2>&1 || { tail -20 "$work/pack-apt.log" >&2; return 1; }
	objs=(/usr/bin/llama-server /usr/lib/x86_64-linux-gnu/ggml/backends0/libggml-vulkan.so /usr/lib/x86_64-linux-gnu/ggml/backends0/libggml-cpu-x64.so)
	for l in libGLX.so.0 libGLdispatch.so.0 libEGL.so.1 libGL.so.1 libX11.so.6 libXext.so.6 libvulkan.so.1; do
		if [ -e "$r/usr/lib/x86_64-linux-gnu/$l" ]; then objs+=("/usr/lib/x86_64-linux-gnu/$l"); fi
	done
	libs=$(for l in "${objs[@]}"; do echo "$l"; chroot "$r" ldd "$l" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'; done | sort -u | sed 's,^/,,')
	# shellcheck disable=SC2086 # one path a word
	(cd "$r" && cp -L --parents $libs lib64/ld-linux-x86-64.so.2 "$b/")
	tar -C "$b" -cJf "$LLAMA_BUNDLE" .
	echo "gpu-check: packed $LLAMA_BUNDLE ($(du -h "$LLAMA_BUNDLE" | cut -f1))"
}

# check_job: a Typhon job with nvidia-smi logging, then the per-test table.
check_job() {
	start_server
	local smi_pid=
	if command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
		TZ=UTC "$NVIDIA_SMI" "${SMI_QUERY[@]}" >"$work/smi.csv" 2>"$work/smi.err" &
		smi_pid=$!
		pids+=("$smi_pid")
	else
		echo "gpu-check job: no $NVIDIA_SMI here: the table will lack its figures" >&2
		: >"$work/smi.csv"
	fi
	local rc=0
	"$TYPHON_BIN" run -url "$TYPHON_URL" -mode "$MODE" -data "$work/data" -json >"$work/record.json" || rc=$?
	if [ -n "$smi_pid" ]; then kill "$smi_pid" 2>/dev/null || true; wait "$smi_pid" 2>/dev/null || true; fi
	if [ "$rc" -ne 0 ]; then
		echo "gpu-check job: typhon run failed (exit $rc)" >&2
		[ -s "$work/record.json" ] || return 1
	fi
	echo "gpu-check job: per test and GPU, Typhon's record beside nvidia-smi's readings over the same window"
	local cmp=0
	"$BIN" -record "$work/record.json" -smi-log "$work/smi.csv" || cmp=$?
	if [ "$cmp" -ne 0 ]; then return "$cmp"; fi
	return "$rc"
}

verdict() {
	case $1 in
	0) echo "gpu-check: OK" ;;
	2) echo "gpu-check: no GPU here; nothing was checked" >&2 ;;
	*) echo "gpu-check: FAILED (exit $1)" >&2 ;;
	esac
	exit "$1"
}

what=${1:-run}
case $what in
build)
	build
	echo "gpu-check: built $BIN, $TYPHON_BIN and $TINYMODEL_BIN"
	exit 0
	;;
pack)
	pack
	exit 0
	;;
run | job | all) ;;
*)
	echo "usage: $0 [run|job|all|build|pack]" >&2
	exit 1
	;;
esac
build
rc=0
if [ "$what" != job ]; then
	set +e
	check_load
	rc=$?
	set -e
	if [ "$rc" -ne 0 ] || [ "$what" = run ]; then verdict "$rc"; fi
fi
set +e
check_job
rc=$?
set -e
verdict "$rc"
