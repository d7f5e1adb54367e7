#!/usr/bin/env bash
# Debian libraries that WeasyPrint's wheel loads, poppler for PDF checks, and (with --e2e)
# Chromium for the browser tests. `--check` only reports; without it, installs what is missing.
set -euo pipefail
pkgs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig)
[[ " $* " == *" --e2e "* ]] && pkgs+=(poppler-utils chromium nginx-light wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [[ " $* " == *" --check "* ]]; then
  echo "missing Debian packages: ${missing[*]}" >&2; exit 1
fi
command -v apt-get >/dev/null || { echo "install these with your package manager: ${missing[*]}" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
