#!/bin/sh
# The real components the tests drive, from Debian's packages when missing (as root):
#   chromium    web pages, driven by playwright (never a downloaded browser)
#   bubblewrap  the sandbox for model-written code (user, mount, PID and network namespaces)
#   postgresql  the team store (tests start their own server in a temporary directory)
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing from Debian's packages:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || exit 1
else
  echo "the tests need:$missing (apt-get install$missing)" >&2
  exit 1
fi
