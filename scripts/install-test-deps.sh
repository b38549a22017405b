#!/usr/bin/env bash
# Installs the Debian packages the tests drive: real SIP peers and a browser.
# Used by .ci/run; run it once (as root) before `npm test` on a new machine.
set -euo pipefail
packages=(
  sip-tester          # sipp: interop tests and the SIP load benchmark
  tshark              # Wireshark's dissectors: the overlay interop test captures and decodes our SIP
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
# wireshark-common asks whether non-root users may capture; the tests capture as root, so answer no
# up front (noninteractive would take the same default) and never stop at a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# Through env: sudo drops the caller's environment, DEBIAN_FRONTEND with it.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
