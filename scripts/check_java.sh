#!/usr/bin/env bash
# Hail needs a Java 11 or 17 runtime on PATH (it is built for 11; 17 works).
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
  echo "Java not found. Hail needs a Java 11 or 17 runtime:" >&2
  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" >&2
  echo "  macOS:         brew install openjdk@17" >&2
  exit 1
fi
version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2}')
major=${version%%.*}
if [ "$major" != "11" ] && [ "$major" != "17" ]; then
  echo "Java $version found; Hail 0.2.139 needs Java 11 or 17 (install openjdk-17-jre-headless)" >&2
  exit 1
fi
