#!/usr/bin/env bash
# Installs the Debian packages the integration tests run for real: Mosquitto, InfluxDB 1.x,
# PostgreSQL, Chromium (the dashboard's browser tests drive it with Playwright), Prometheus
# (for `promtool check metrics`), NATS Server (the clustered MQTT broker of the scaling tests) and
# HAProxy (the balancer in front of cloud replicas). Does nothing for packages already present. Needs root or password-less sudo;
# without either it says what to run and carries on (the tests then skip, or fail under CI=true).
#
# Newer Debian releases may no longer carry `influxdb`. Then this enables the previous release's
# suite (bookworm) from the machine's own apt source, pinned so that only `influxdb` (and what
# it needs that the release lacks) comes from there. See docs/decisions.md.
set -euo pipefail

want_bins=(mosquitto influxd pg_ctl chromium promtool nats-server haproxy)
want_pkgs=(mosquitto influxdb postgresql chromium prometheus nats-server haproxy)

have() {
  local bin=$1
  PATH="$PATH:/usr/sbin:/sbin:/usr/local/sbin" command -v "$bin" >/dev/null 2>&1 && return 0
  [ "$bin" = pg_ctl ] && compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && return 0
  return 1
}

missing=()
for i in "${!want_bins[@]}"; do
  have "${want_bins[$i]}" || missing+=("${want_pkgs[$i]}")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: mosquitto, influxd, postgresql, chromium, promtool, nats-server and haproxy are present"; exit 0; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-deps: missing ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; install ${missing[*]} with your package manager" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]} from Debian's packages"
"${SUDO[@]}" apt-get update -qq

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }

# Debian's own mirror URI as this machine's apt sources name it (deb822 or one-line format).
debian_uri() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if [[ " ${missing[*]} " == *" influxdb "* ]] && { [ -z "$(candidate influxdb)" ] || [ "$(candidate influxdb)" = "(none)" ]; }; then
  uri=$(debian_uri)
  echo "install-deps: this release has no influxdb package; taking it from bookworm at $uri"
  echo "deb $uri bookworm main" | "${SUDO[@]}" tee /etc/apt/sources.list.d/iotgw-bookworm.list >/dev/null
  printf '%s\n' \
    "Package: *" "Pin: release n=bookworm" "Pin-Priority: 1" "" \
    "Package: influxdb" "Pin: release n=bookworm" "Pin-Priority: 500" \
    | "${SUDO[@]}" tee /etc/apt/preferences.d/iotgw-bookworm >/dev/null
  "${SUDO[@]}" apt-get update -qq
fi

"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages' own services are not what the tests use: the fixtures start private servers.
for svc in mosquitto influxdb postgresql prometheus prometheus-node-exporter nats-server haproxy; do
  "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: done"
