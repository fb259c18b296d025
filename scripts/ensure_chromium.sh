#!/usr/bin/env bash
# The browser tests drive a system Chromium (Playwright never downloads one). Use $CHROMIUM when
# set, /usr/bin/chromium when present, else install Debian's package (as root or with sudo).
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ]; then exit 0; fi
if [ -x /usr/bin/chromium ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "The browser tests need Chromium: install it (Debian/Ubuntu: apt-get install chromium)" >&2
    echo "or set CHROMIUM=/path/to/chrome." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "No apt-get here: install Chromium yourself and set CHROMIUM=/path/to/chrome." >&2
  exit 1
fi
echo "Installing Debian's chromium for the browser tests..."
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium fonts-dejavu-core
