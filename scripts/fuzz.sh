#!/usr/bin/env bash
# Runs every fuzz target of the module (each func FuzzXxx in a *_test.go file) for
# FUZZTIME each (default 60s), one after another, and fails when one finds a
# crash. A crasher is kept by go test in the package's testdata/fuzz/FuzzXxx/, so
# that it becomes a regression case of the plain tests once committed.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZTIME=10s bash scripts/fuzz.sh    # shorter
#   bash scripts/fuzz.sh ./detect        # only the targets of these packages
#
# Targets that must exist (the SSE parser, the decoding of server answers, the
# records and chronicle) are listed in REQUIRED; one missing fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZTIME=${FUZZTIME:-60s}
# Packages that must hold at least one fuzz target.
REQUIRED=${FUZZ_REQUIRED-"./internal/sse ./detect ./report"}

# "dir name" for every fuzz target found.
mapfile -t targets < <(
  grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
    grep -v '/testdata/' |
    sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' |
    sort -u
)

if [ $# -gt 0 ]; then
  keep=()
  for t in "${targets[@]}"; do
    for want in "$@"; do
      [ "${t%% *}" = "./${want#./}" ] && keep+=("$t")
    done
  done
  targets=("${keep[@]}")
  REQUIRED=""
fi

missing=0
for pkg in $REQUIRED; do
  found=0
  for t in "${targets[@]}"; do
    [ "${t%% *}" = "$pkg" ] && found=1
  done
  if [ "$found" = 0 ]; then
    echo "fuzz: no fuzz target in $pkg (required)" >&2
    missing=1
  fi
done

if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no fuzz target found" >&2
  exit 1
fi

failed=()
for t in "${targets[@]}"; do
  pkg=${t%% *} name=${t##* }
  printf '\n=== fuzz %s %s for %s (%s)\n' "$pkg" "$name" "$FUZZTIME" "$(date -u +%H:%M:%S)"
  # -fuzzminimizetime 10s: go test spends up to 60 s shrinking each input that
  # finds new coverage, fuzzing nothing meanwhile (FuzzReadOpenAI spent 55 of its
  # 60 s so); a crasher is still shrunk, for 10 s.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 10s "$pkg"; then
    failed+=("$pkg $name")
    echo "fuzz: $pkg $name FAILED; the input is under $pkg/testdata/fuzz/$name/" >&2
  fi
done

echo
echo "fuzz: ${#targets[@]} target(s) run for $FUZZTIME each, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "  FAILED: $f"; done
if [ "${#failed[@]}" -gt 0 ] || [ "$missing" -ne 0 ]; then
  exit 1
fi
