#!/usr/bin/env bash
# Build the local container base image for bentos (default tag mlkit-base:bookworm), once.
#
# Machines that cannot pull from Docker Hub still need a base image for
# `bentoml containerize`; this one is made from Debian's own mirror with debootstrap.
# It is Debian bookworm (python3 is 3.11, like the course's Python, so pickled models
# load) with what BentoML 1.4's generated Dockerfile needs of a custom base image:
#   - bash (entrypoint.sh), passwd (groupadd/useradd for the bento user);
#   - the packages of BentoML's "debian" install step (ca-certificates gnupg2 bash
#     build-essential git), so that its `apt-get install` finds nothing left to do;
#   - uv >= 0.13.4 (else the Dockerfile pip-installs uv==0.13.4 in every build);
#   - python3 (uv builds the bento's venv from it; UV_PYTHON_DOWNLOADS=never keeps
#     uv from fetching another Python), python3-pip, python3-venv.
# The host's CA bundle is copied in, and SSL_CERT_FILE, UV_SYSTEM_CERTS=1 (uv 0.13's
# name for the deprecated UV_NATIVE_TLS) and PIP_BREAK_SYSTEM_PACKAGES=1 (Debian's
# python3 is "externally managed") are set, so pip and uv reach the package index
# through the machine's CA bundle from inside `docker build --network host`.
#
# Usage: .ci/build-base-image.sh [IMAGE]   (default: $MLKIT_BASE_IMAGE or mlkit-base:bookworm)
# An image that exists already is reused. Needs root, debootstrap and a running engine.
set -euo pipefail

image="${1:-${MLKIT_BASE_IMAGE:-mlkit-base:bookworm}}"
suite=bookworm
mirror="${MLKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
uv_version=0.13.4
packages=python3,python3-pip,python3-venv,ca-certificates,passwd,bash,gnupg2,build-essential,git
host_ca=/etc/ssl/certs/ca-certificates.crt

report_size() {
    local bytes
    bytes="$(docker image inspect --format '{{.Size}}' "$image")"
    echo "build-base-image: $image is $bytes bytes ($((bytes / 1000000)) MB)"
}

if ! docker info >/dev/null 2>&1; then
    echo "build-base-image: no Docker engine answers; run .ci/start-dockerd.sh first" >&2
    exit 1
fi
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "build-base-image: reusing $image"
    report_size
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null; then
    echo "build-base-image: needs root and debootstrap (Debian package debootstrap)" >&2
    exit 1
fi

root="$(mktemp -d /var/tmp/mlkit-base.XXXXXX)"
cleanup() {
    # debootstrap mounts proc/sys inside the target; unmount before deleting anything.
    grep -o " $root/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l || true
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

start=$SECONDS
echo "build-base-image: debootstrap $suite (minbase) from $mirror into $root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

cp "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE="$host_ca" \
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    python3 -m pip install --quiet --no-cache-dir "uv==$uv_version"
chroot "$root" uv --version
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/etc/resolv.conf "$root"/root/.cache

echo "build-base-image: importing into Docker as $image"
tar -C "$root" --numeric-owner -c . | docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV SSL_CERT_FILE=$host_ca" \
    --change "ENV UV_SYSTEM_CERTS=1" \
    --change "ENV UV_PYTHON_DOWNLOADS=never" \
    --change "ENV PIP_BREAK_SYSTEM_PACKAGES=1" \
    --change 'CMD ["/bin/bash"]' \
    - "$image" >/dev/null
echo "build-base-image: built $image in $((SECONDS - start)) s"
report_size
