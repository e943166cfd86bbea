#!/usr/bin/env bash
# Check an image built from deploy/grading-worker/Dockerfile before pushing it: a TLS
# scheduler and a worker from the image on 127.0.0.1 (--network host), checked and used by
# this project's mlkit (`mlkit cluster check`, then lab 00's solution and blank lab graded
# on it). A worker whose kit differs from this checkout's is refused, naming both.
#
# Usage (from the project folder): bash deploy/grading-worker/check-image.sh IMAGE
set -euo pipefail

image="${1:?usage: check-image.sh IMAGE}"
mlkit=.venv/bin/mlkit
python=.venv/bin/python
dir="$(mktemp -d /tmp/mlkit-image-check.XXXXXX)"
certs="$dir/certs"
names=()
cleanup() {
    ((${#names[@]})) && docker rm -f "${names[@]}" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$mlkit" cluster certs "$certs" >/dev/null
chmod a+r "$certs"/*  # the image's user (uid 1000) reads them through the bind mount
port() { "$python" -c "from mlkit._runtime.net import free_port; print(free_port())"; }
scheduler_port="$(port)"
address="tls://127.0.0.1:$scheduler_port"
tls=(--tls-ca-file /certs/ca.pem)
run() {
    local name="mlkit-image-check-$1-$scheduler_port"
    shift
    names+=("$name")
    docker run --detach --pull never --name "$name" --network host \
        --volume "$certs:/certs:ro" --env MLKIT_SCRATCH=/tmp/mlkit "$image" "$@" >/dev/null
}
run scheduler dask scheduler --protocol tls --host 127.0.0.1 --port "$scheduler_port" \
    --dashboard-address "127.0.0.1:$(port)" \
    "${tls[@]}" --tls-cert /certs/scheduler.pem --tls-key /certs/scheduler-key.pem
run worker dask worker "$address" --host 127.0.0.1 --nthreads 1 \
    --dashboard-address "127.0.0.1:$(port)" \
    "${tls[@]}" --tls-cert /certs/worker.pem --tls-key /certs/worker-key.pem

ready=0
for _ in $(seq 30); do  # until the scheduler answers and lists the worker
    if "$mlkit" cluster check "$address" --certs "$certs" -a 00 >"$dir/check.txt" 2>&1; then
        ready=1
        break
    fi
    grep -q "has no worker\|cannot reach the scheduler" "$dir/check.txt" || break
    sleep 2
done
cat "$dir/check.txt"
if ((!ready)); then
    echo "check-image: the cluster of $image is not ready to grade (above)" >&2
    exit 1
fi
mkdir "$dir/submissions"
cp solutions/00_welcome.ipynb "$dir/submissions/solution.ipynb"
cp labs/00_welcome.ipynb "$dir/submissions/blank.ipynb"
"$mlkit" grade "$dir/submissions" -a 00 -o "$dir/out" --cluster "$address" --certs "$certs" \
    --no-progress
