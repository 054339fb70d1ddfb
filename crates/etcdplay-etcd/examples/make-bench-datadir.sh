#!/usr/bin/env bash
# Makes a big etcd data dir for the `datadir_check` example and bench/datadir/run: several
# full 64 MB WAL segments and a bbolt backend of a few hundred MB (PUTS values of ~700 KB over
# 150 keys, never compacted), written by a real etcd that is stopped by its pid at the end.
# Usage: make-bench-datadir.sh DIR [PUTS]   (DIR must not exist; the data dir is DIR/data)
# Environment: PEER_URL (default http://127.0.0.1:42480; the member's stored peer URL),
# CLIENT_URL (default http://127.0.0.1:42479), SNAPSHOT_COUNT (default 100: frequent `.snap`
# files, so a reader needs only the newest WAL segments; a large value keeps every entry
# after the start in the WAL and the reader must scan every segment).
set -euo pipefail
DIR="$1"
PUTS="${2:-300}"
PEER="${PEER_URL:-http://127.0.0.1:42480}"
EP="${CLIENT_URL:-http://127.0.0.1:42479}"
if [[ -e "$DIR" ]]; then echo "$DIR exists" >&2; exit 1; fi
mkdir -p "$DIR"
export ETCDCTL_API=3
etcd --name bench --data-dir "$DIR/data" \
    --listen-client-urls "$EP" --advertise-client-urls "$EP" \
    --listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
    --initial-cluster "bench=$PEER" --snapshot-count "${SNAPSHOT_COUNT:-100}" \
    --quota-backend-bytes 8589934592 >"$DIR/etcd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
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
