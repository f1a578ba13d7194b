#!/usr/bin/env bash
# Release check of the zeus mode (long-context torture test), too slow for CI:
# a llama-server with a 131,072-token context serves a generated model trained
# for 262,144 tokens; a zeus job through the HTTP API runs the 128K test to the
# end (one prompt of about 130,700 tokens, then 128 tokens decoded at that depth),
# skips the 256K test with the server's context as the reason, and shows the
# prefill's progress in current_test while it runs. Needs the test bed
# (bash scripts/testbed.sh) and root (llama-server runs through chroot).
#
# Measured on 2 busy cores: see README.md (Zeus). Run before each release:
#   bash scripts/zeus-check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export TYPHON_ZEUS=1 TYPHON_REQUIRE_SERVERS=1
exec go test -count=1 -v -timeout 40m -run 'TestZeus128K$' ./examples/httpserver
