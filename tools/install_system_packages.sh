#!/usr/bin/env bash
# The programs the tests run beside Python, from Debian's packages: PostgreSQL and Redis (private
# servers on 127.0.0.1), Chromium and ChromeDriver (the site's browser test), Java 17 (the
# Android app's core on the JVM), Node.js and npm (quicktype, kotlinc), xmllint (JUnit schemas).
# Installing them needs root: as root it runs apt-get, otherwise `sudo` when that works without a
# password; else it prints the one command to run and exits 0, so that `make test` still runs:
# the tests that need a missing program then skip, saying what is missing (and fail under CI=true).
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v npm >/dev/null || need+=(nodejs npm)
command -v xmllint >/dev/null || need+=(libxml2-utils)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "Needs root, not run: sudo apt-get install -y ${need[*]}   (tests needing them skip until then)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "No apt-get here: install ${need[*]} with this system's package manager (tests needing them skip until then)." >&2
    exit 0
fi
echo "Installing Debian packages: ${need[*]}" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
