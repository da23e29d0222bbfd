#!/usr/bin/env bash
# Installs the Debian packages aspace needs, when they are missing.  As root
# it runs apt-get; otherwise it prints the one apt-get line to run.
set -euo pipefail
pkgs=(cmake gcc clang make pkg-config liburcu-dev libcmocka-dev liburing-dev libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "aspace: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "aspace: missing packages; run as root:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
