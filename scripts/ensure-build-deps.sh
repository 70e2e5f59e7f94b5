#!/bin/sh
# Installs the system packages llama-cpp-python's source build needs, if missing (Debian/Ubuntu, as root).
missing=""
command -v cc >/dev/null 2>&1 || missing="$missing build-essential"
command -v c++ >/dev/null 2>&1 || missing="$missing g++"
command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing build tools for llama.cpp:$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "llama-cpp-python builds from source and needs:$missing (install them with your package manager)" >&2
  # cmake also comes from PyPI through the build; a compiler cannot
  command -v c++ >/dev/null 2>&1 || exit 1
fi
