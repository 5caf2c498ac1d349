#!/usr/bin/env bash
# Prepare a Debian host for glibc-farm: install Docker's engine and debootstrap when they are
# missing, start dockerd when no engine answers, and install the farm itself into a venv.
#
# Idempotent: every step checks before it acts, so running it on a prepared machine costs
# a second. Needs root (or sudo) only for the steps that actually install or start something.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

engine_answers() {
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
# apt checks Debian's archive (glibc's source) against its keys; Ubuntu lacks them.
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need_packages+=(debian-archive-keyring)
# The registry the integration tests push images to and pull them from, on loopback.
command -v docker-registry >/dev/null 2>&1 || need_packages+=(docker-registry)
# dpkg-source unpacks Debian source packages on the host (the farm's source cache).
command -v dpkg-source >/dev/null 2>&1 || need_packages+=(dpkg-dev)
command -v xz >/dev/null 2>&1 || need_packages+=(xz-utils)
# The project's tests also run the case library on the host, for both arches.
command -v gcc >/dev/null 2>&1 || need_packages+=(gcc)
dpkg -s gcc-multilib >/dev/null 2>&1 || need_packages+=(gcc-multilib)

if [ "${#need_packages[@]}" -gt 0 ]; then
    log "installing ${need_packages[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need_packages[@]}" >/dev/null
fi

if engine_answers; then
    log "docker engine answers"
else
    log "starting dockerd"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
        as_root systemctl start docker
    else
        as_root mkdir -p /var/log
        # setsid: the engine must outlive this script and the shell that ran it.
        as_root setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
    fi
    for _ in $(seq 1 60); do
        engine_answers && break
        sleep 1
    done
    engine_answers || { log "dockerd did not answer within 60 s; see /var/log/dockerd.log"; exit 1; }
    log "docker engine started"
fi

# The farm itself, in a virtual environment beside the checkout.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$here/.venv/bin/farm" ] || [ "$here/pyproject.toml" -nt "$here/.venv/.installed" ]; then
    log "installing glibc-farm into $here/.venv"
    command -v python3 >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
    python3 -m venv "$here/.venv" || {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$here/.venv"
    }
    "$here/.venv/bin/pip" install -q --upgrade pip
    "$here/.venv/bin/pip" install -q -e "$here[dev]"
    touch "$here/.venv/.installed"
fi
log "ready: $here/.venv/bin/farm"
