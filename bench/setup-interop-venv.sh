#!/usr/bin/env bash
# Creates target/interop-venv with the OASIS STIX/TAXII peers that crates/share's interop
# tests run against (medallion, taxii2-client, stix2-validator). The tests skip when it is
# missing, so CI runs this first. Versions are pinned to the ones seen working together.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/interop-venv

if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv/ensurepip into python3-venv; a fresh machine may lack it.
    rm -rf "$venv"
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo -n"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi

"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "medallion==3.0.0" "taxii2-client==2.3.0" "stix2==3.0.2" "stix2-validator==3.3.2" "$@"
