#!/usr/bin/env bash
# Start a local Docker engine for the container lessons and tests, unless one answers already.
#
# The daemon runs with --bridge=none --iptables=false (the kit's network rule: serving
# containers use --network host on 127.0.0.1, grading sandboxes --network none).
# Idempotent: a second call returns at once while the engine answers.
# Log: $MLKIT_DOCKERD_LOG (default <scratch>/dockerd.log). Wait: $MLKIT_DOCKERD_WAIT s (60).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${MLKIT_SCRATCH:-$repo/.scratch}"
log="${MLKIT_DOCKERD_LOG:-$scratch/dockerd.log}"
wait_s="${MLKIT_DOCKERD_WAIT:-60}"

if docker info >/dev/null 2>&1; then
    echo "start-dockerd: a Docker engine already answers ($(docker info --format '{{.ServerVersion}}'))"
    exit 0
fi
if ! command -v dockerd >/dev/null; then
    echo "start-dockerd: dockerd not found; install Debian's docker.io package" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "start-dockerd: dockerd must be started as root" >&2
    exit 1
fi

mkdir -p "$(dirname "$log")"
echo "start-dockerd: starting dockerd (log: $log)"
setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false >>"$log" 2>&1 </dev/null &

for _ in $(seq 1 "$wait_s"); do
    if docker info >/dev/null 2>&1; then
        echo "start-dockerd: engine ready ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
        exit 0
    fi
    sleep 1
done
echo "start-dockerd: no answer from dockerd after ${wait_s}s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
