#!/usr/bin/env sh
# Creates deploy/mosquitto/secrets/: the broker's password file (the gateway, the compose
# simulator, and one account per device named on the command line) and a throwaway CA and
# server certificate for the TLS listener. Run once before the first `docker compose up`:
#
#   MQTT_GATEWAY_PASSWORD=... MQTT_SIMULATOR_PASSWORD=... deploy/mosquitto/make-secrets.sh pump-7 ...
#
# A device's password is printed once (store it on the device); add devices later with
#   mosquitto_passwd -b deploy/mosquitto/secrets/passwd <device> <password>
# Needs mosquitto_passwd (package mosquitto) and openssl. Files are created 0600.
set -eu
dir="${SECRETS_DIR:-$(cd "$(dirname "$0")" && pwd)/secrets}"
mkdir -p "$dir"
umask 077
: "${MQTT_GATEWAY_PASSWORD:?set MQTT_GATEWAY_PASSWORD (also in .env for compose)}"
: "${MQTT_SIMULATOR_PASSWORD:?set MQTT_SIMULATOR_PASSWORD (also in .env for compose)}"
touch "$dir/passwd"
mosquitto_passwd -b "$dir/passwd" gateway "$MQTT_GATEWAY_PASSWORD"
mosquitto_passwd -b "$dir/passwd" simulator "$MQTT_SIMULATOR_PASSWORD"
for device in "$@"; do
  password="$(openssl rand -hex 24)"
  mosquitto_passwd -b "$dir/passwd" "$device" "$password"
  echo "$device $password"
done
if [ ! -s "$dir/server.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=iotgw-mqtt-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mosquitto" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:mosquitto,DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 825 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/san.ext"
fi
# The broker runs as user mosquitto (uid 1883 in the image) and must read these.
chmod 0644 "$dir/ca.crt" "$dir/server.crt"
chown 1883:1883 "$dir/passwd" "$dir/server.key" 2>/dev/null \
  || echo "note: run as root (or chown 1883) so the broker's user can read passwd and server.key" >&2
echo "wrote $dir" >&2
