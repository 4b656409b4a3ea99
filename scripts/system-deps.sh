#!/usr/bin/env bash
# Install the Debian packages the tests use (kcat, ...), when they are missing.
# Usage: scripts/system-deps.sh PACKAGE:COMMAND ...   e.g. kcat:kcat
set -euo pipefail
missing=()
for spec in "$@"; do
  package=${spec%%:*}
  command=${spec#*:}
  command -v "$command" >/dev/null 2>&1 || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: missing ${missing[*]}; install them with apt-get (needs root)" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages..." >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
