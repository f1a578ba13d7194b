#!/usr/bin/env bash
# Provisions Typhon's test bed: real llama-server and Ollama binaries and the tiny
# generated model, cached under one directory outside the clone.
#
#   TYPHON_TESTBED_DIR   cache directory (default $HOME/.cache/typhon-testbed)
#
# Idempotent: each part is built in a temporary directory and moved into place only
# when complete, with a marker file written last; a later run trusts a part only when
# its marker is there. A failed step exits non-zero with a message.
set -euo pipefail
# The whole script is one block, read before it runs: editing the file (a git pull)
# during a run cannot change what the run does.
{

OLLAMA_VERSION=v0.17.4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${TYPHON_TESTBED_DIR:-$HOME/.cache/typhon-testbed}
mkdir -p "$cache"
root=$cache/llama-root
log=$cache/logs
mkdir -p "$log"

say() { printf 'testbed: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
# fail LOG MESSAGE: shows the end of a step's log, then dies.
fail() { say "last lines of $1:"; tail -n 25 "$1" | sed 's/^/    /' >&2; die "$2 (full log: $1)"; }

# One run at a time per cache directory (two CI jobs may share it).
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"

# remove_tree DIR: unmounts whatever a failed debootstrap left mounted below DIR
# (proc, sys, ...), then deletes DIR without crossing into another file system.
remove_tree() {
  local dir=$1 m
  if [ -L "$dir" ]; then rm -f "$dir"; return 0; fi
  [ -e "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P)
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || die "cannot unmount $m"
  done
  rm -rf --one-file-system "$dir"
}

apt_updated=0
need_pkgs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log/apt-update.log" 2>&1 || fail "$log/apt-update.log" "apt-get update failed"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$log/apt-install.log" 2>&1 \
    || fail "$log/apt-install.log" "apt-get install ${missing[*]} failed"
}

# 0. A C compiler: go test -race and the cgo GPU sampler need one (and so does the
#    Ollama build below).
need_pkgs gcc g++
# Headless Chromium: the job server's browser test (a cross-origin fetch from a
# page of another loopback port must not start a job).
need_pkgs chromium

# 0b. A headless browser: the HTML dashboard is rendered in Debian's Chromium by the
#     report tests (screenshot, no network request, no console error).
need_pkgs chromium

# 1. llama-server: Debian unstable's llama.cpp-tools in a debootstrap root (it needs a
#    newer glibc than the host). Also holds libminiaudio-dev for the Ollama build.
if [ ! -f "$root/.typhon-ok" ] || [ ! -x "$root/usr/bin/llama-server" ]; then
  need_pkgs debootstrap
  tmp=$cache/llama-root.tmp
  remove_tree "$tmp"; remove_tree "$root"
  say "debootstrap of Debian unstable with llama.cpp-tools (about 2 minutes)"
  debootstrap --variant=minbase --include=llama.cpp-tools,libminiaudio-dev sid "$tmp" >"$log/debootstrap.log" 2>&1 \
    || { remove_tree "$tmp"; fail "$log/debootstrap.log" "debootstrap failed"; }
  [ -x "$tmp/usr/bin/llama-server" ] || { remove_tree "$tmp"; die "debootstrap root has no /usr/bin/llama-server"; }
  chroot "$tmp" /usr/bin/llama-server --version >"$log/llama-version.log" 2>&1 \
    || { remove_tree "$tmp"; fail "$log/llama-version.log" "llama-server does not start in the root"; }
  [ -f "$tmp/usr/include/miniaudio.h" ] || { remove_tree "$tmp"; die "libminiaudio-dev gave no miniaudio.h"; }
  mv "$tmp" "$root"
  grep -m1 version "$log/llama-version.log" >"$root/.typhon-ok" || true # the marker, written last
fi
say "llama-server: $(cat "$root/.typhon-ok")"

# 2. Ollama, built from its Go module; its module zip lacks three vendored C headers.
#    go install compiles ggml for baseline x86-64 (SSE2 only), which made Ollama's
#    prefill 10 times slower than llama-server's; on a CPU with AVX2 and FMA it is
#    built for x86-64-v3 (measured: a 3,500-token prompt in 2 s instead of 17 s).
ollama_dir=$cache/ollama
ollama_march=
if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
  ollama_march=x86-64-v3
fi
ollama_id="$OLLAMA_VERSION ${ollama_march:-generic}"
if [ "$(cat "$ollama_dir/.typhon-ok" 2>/dev/null)" != "$ollama_id" ] || [ ! -x "$ollama_dir/bin/ollama" ]; then
  need_pkgs nlohmann-json3-dev libstb-dev
  tmp=$cache/ollama.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/inc/miniaudio" "$tmp/bin"
  cp "$root/usr/include/miniaudio.h" "$tmp/inc/miniaudio/"
  cflags="-O3${ollama_march:+ -march=$ollama_march}"
  say "building Ollama $ollama_id with go install (about 8 minutes on 2 cores the first time)"
  ( cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$tmp/bin" CGO_ENABLED=1 CGO_CPPFLAGS="-I$tmp/inc" \
      CGO_CFLAGS="$cflags" CGO_CXXFLAGS="$cflags" \
      go install "github.com/ollama/ollama@$OLLAMA_VERSION" ) >"$log/ollama-build.log" 2>&1 \
    || { remove_tree "$tmp"; fail "$log/ollama-build.log" "Ollama build failed"; }
  [ -x "$tmp/bin/ollama" ] || { remove_tree "$tmp"; die "Ollama build produced no binary"; }
  # Swap in the new build only now: servers running the old one keep running.
  rm -rf "$ollama_dir"
  mv "$tmp" "$ollama_dir"
  echo "$ollama_id" >"$ollama_dir/.typhon-ok" # the marker, written last
fi
say "ollama: $ollama_dir/bin/ollama ($(cat "$ollama_dir/.typhon-ok"))"

# 3. The tiny model, written by the project's own GGUF writer. The marker holds a hash
#    of the writer's sources, so a changed writer rewrites the model.
model_dir=$cache/model
model_hash=$(cd "$here" && find internal/testmodel -name '*.go' ! -name '*_test.go' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1)
if [ "$(cat "$model_dir/.typhon-ok" 2>/dev/null)" != "$model_hash" ] || [ ! -s "$model_dir/tiny.gguf" ]; then
  rm -rf "$model_dir.tmp"; mkdir -p "$model_dir.tmp"
  ( cd "$here" && go run ./internal/testmodel/cmd/tinymodel -o "$model_dir.tmp/tiny.gguf" ) >&2 \
    || { rm -rf "$model_dir.tmp"; die "writing the tiny model failed"; }
  echo "$model_hash" >"$model_dir.tmp/.typhon-ok"
  rm -rf "$model_dir"; mv "$model_dir.tmp" "$model_dir"
fi
say "model: $model_dir/tiny.gguf"
say "ready in $cache"
exit 0
}
