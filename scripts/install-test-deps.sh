#!/usr/bin/env bash
# Installs the Debian packages the tests drive: real SIP peers and a browser.
# Used by .ci/run; run it once (as root) before `npm test` on a new machine.
set -euo pipefail
packages=(
  sip-tester          # sipp: interop tests and the SIP load benchmark
  chromium            # end-to-end UI tests through playwright-core
  fonts-dejavu-core   # so screenshots show text
  iproute2 procps     # ip netns for multi-host tests; ps for process checks
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
