#!/bin/sh
# Web pages are tested in Debian's chromium, driven by playwright (never a browser download).
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "the browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)" >&2
  exit 1
fi
