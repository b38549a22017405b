#!/usr/bin/env bash
# Installs the Debian packages the tests drive: real SIP peers and a browser.
# Used by .ci/run and by `npm test` itself (scripts/pretest.js): as root it installs what is
# missing; `--check` only lists it.
set -euo pipefail
packages=(
  sip-tester          # sipp: interop tests and the SIP load benchmark
  baresip-core        # a real softphone: call interop (audio both ways, DTMF)
  kamailio            # a real record-routing proxy: calls whose dialogs carry a route set; another SIP domain; bench:sip-server's reference
  kamailio-tls-modules  # Kamailio's tls module (OpenSSL): SIP over TLS with another stack (Debian's sipp has no TLS)
  knot                # an authoritative DNS server: NAPTR/SRV for SIP domains (RFC 3263) in the namespaces of the domains test; the zone `peerdial origin --dns-update` updates (RFC 2136, TSIG)
  unbound             # a recursive resolver in front of that zone: users of the DNS round robin test and benchmark ask it, and it caches by the records' TTL
  sox espeak-ng       # the spoken WAVs the call interop tests send and compare
  ffmpeg              # the reference the codec tests compare with: G.722 octets and samples, Opus streams (in Ogg)
  tshark              # Wireshark's dissectors: the overlay interop test captures and decodes our SIP
  chromium            # end-to-end UI tests through playwright-core
  pulseaudio pulseaudio-utils  # the echo cancellation e2e test's room: its own sound server (a user daemon it starts and ends), pactl and paplay; nothing is started by the install
  fonts-dejavu-core   # so screenshots show text
  iproute2 procps     # ip netns for multi-host tests; ps for process checks
  iptables            # LAN discovery tests block mDNS or the multicast REGISTER inside namespaces; the NAT lab's routers MASQUERADE
  nftables            # the NAT lab's address-restricted router: filtering per mapping with an nftables set
  avahi-daemon avahi-utils dbus  # a real mDNS responder and browser for the DNS-SD interop test
  coturn              # a real STUN/TURN server and its RFC 5780 clients (turnutils_stunclient, turnutils_natdiscovery) for the NAT tests
  miniupnpd-nftables  # the NAT lab's 'upnp' router runs this UPnP IGD / NAT-PMP / PCP daemon in its namespace (the backend binary alone: no debconf questions, no init script, no daemon)
  miniupnpc natpmpc   # UPnP IGD and NAT-PMP clients: the NAT lab test maps a port through that router with each
  nginx-light wrk     # the rescue path: nginx is the web server behind peerdial origin (interop test, benchmark); wrk sets nginx and a rescue cache hit side by side
  libnss3-tools       # certutil: the HTTPS rescue e2e test puts its own CA into an NSS database in Chromium's HOME, so the browser verifies the chain against it
)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# --check: list what is missing (one name a line) and exit 1 if anything is; install nothing.
if [ "${1:-}" = "--check" ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  printf '%s\n' "${missing[@]}"
  exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# wireshark-common asks whether non-root users may capture; the tests capture as root, so answer no
# up front (noninteractive would take the same default) and never stop at a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
# dpkg prints a line per unpacked file even under -qq: keep the log, show it only when a step fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "failed: $*" >&2; return 1; }; }
# Packages that ship a daemon (kamailio's unit listens on 5060 as soon as it is installed under
# systemd; avahi-daemon would answer mDNS for the whole host) must not start: the tests run their own copies on free ports. A policy-rc.d that
# answers 101 ("action forbidden") makes invoke-rc.d and deb-systemd-invoke skip every start;
# one already in place (as in Docker images) is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap 'rm -f "$log"; $SUDO rm -f "$policy"' EXIT
fi
echo "installing test dependencies: ${missing[*]}"
quietly $SUDO apt-get update -qq
# Through env: sudo drops the caller's environment, DEBIAN_FRONTEND with it.
quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The policy stops the start, not the enabling: without this the daemon would start at the next
# boot (systemd's unit; the SysV script also waits for RUN_KAMAILIO=yes in /etc/default).
for service in kamailio avahi-daemon nginx unbound; do
  [ -e "/etc/init.d/$service" ] && quietly $SUDO update-rc.d "$service" disable
  # systemctl edits the unit links without a running systemd too.
  if [ -e "/lib/systemd/system/$service.service" ] && command -v systemctl >/dev/null; then
    quietly $SUDO systemctl disable --quiet "$service.service"
  fi
  # avahi is also started by socket activation: its socket unit must go too.
  if [ -e "/lib/systemd/system/$service.socket" ] && command -v systemctl >/dev/null; then
    quietly $SUDO systemctl disable --quiet "$service.socket"
  fi
done
