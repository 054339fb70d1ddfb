#!/usr/bin/env bash
# Makes a big etcd data dir for the `datadir_check` example: several full 64 MB WAL
# segments and a ~200 MB bbolt backend, written by a real etcd on 127.0.0.1 (high ports,
# stopped by pid). Usage: make-bench-datadir.sh DIR [PUTS]   (DIR must not exist)
set -euo pipefail
DIR="$1"
PUTS="${2:-300}"
if [[ -e "$DIR" ]]; then echo "$DIR exists" >&2; exit 1; fi
mkdir -p "$DIR"
export ETCDCTL_API=3
EP=http://127.0.0.1:42479
etcd --name bench --data-dir "$DIR/data" \
    --listen-client-urls "$EP" --advertise-client-urls "$EP" \
    --listen-peer-urls http://127.0.0.1:42480 --initial-advertise-peer-urls http://127.0.0.1:42480 \
    --initial-cluster bench=http://127.0.0.1:42480 --snapshot-count 100 \
    --quota-backend-bytes 8589934592 >"$DIR/etcd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for i in $(seq 1 100); do
    etcdctl --endpoints="$EP" endpoint health >/dev/null 2>&1 && break
    sleep 0.3
done
# 700 KB incompressible-ish values, under etcd's 1.5 MiB request limit.
head -c 525000 /dev/urandom | base64 -w0 >"$DIR/value"
for i in $(seq 1 "$PUTS"); do
    etcdctl --endpoints="$EP" put "key-$((i % 150))" <"$DIR/value" >/dev/null
done
kill $PID
wait $PID 2>/dev/null || true
trap - EXIT
rm -f "$DIR/value"
du -sh "$DIR/data/member/wal" "$DIR/data/member/snap/db"
