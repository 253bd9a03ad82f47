#!/usr/bin/env bash
# Installs the real peers the tests talk to, when they are missing: Debian's
# prometheus-alertmanager, prometheus (the /metrics test scrapes with it; promtool checks
# docs/prometheus-rules.yml), mosquitto (MQTT broker and clients), openssl and node/npm
# (ical.js, the parser Thunderbird uses; oidc-provider, the sign-in tests' identity
# provider, installed by scripts/oidc-provider-env.sh) and chromium (the web UI's browser tests drive
# /usr/bin/chromium with Playwright). Fails with a clear message when it cannot.
set -euo pipefail

need=()
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v openssl >/dev/null || need+=(openssl)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "make test needs these packages: ${need[*]} (install them, e.g. apt-get install ${need[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "make test needs: ${need[*]}; this is not a Debian-like system, install them by hand" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
