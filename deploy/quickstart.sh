#!/usr/bin/env bash
# Builds Meridian and runs three regions (us-east, eu-west, ap-south) on loopback ports
# 7001-7003, wired as peers with a generated cluster secret; Ctrl-C stops them all.
#   deploy/quickstart.sh            data in ./data (kept between runs)
#   MERIDIAN_DATA=/tmp/m deploy/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(deploy/build.sh | tail -n 1)
data=${MERIDIAN_DATA:-$(pwd)/data}
mkdir -p "$data"
bin="$dir/server/meridian"

secret="$data/cluster.secret"
if [[ ! -s "$secret" ]]; then
  umask 077
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
fi

regions=(us-east eu-west ap-south)
ports=(7001 7002 7003)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "quickstart: stopped"
}
trap cleanup INT TERM EXIT

for i in "${!regions[@]}"; do
  r=${regions[$i]}
  args=(--region="$r" --listen=127.0.0.1:"${ports[$i]}" --data-dir="$data/$r" --cluster-secret-file="$secret")
  for j in "${!regions[@]}"; do
    [[ $j == "$i" ]] || args+=(--peer="${regions[$j]}=http://127.0.0.1:${ports[$j]}")
  done
  : > "$data/$r.out"
  "$bin" "${args[@]}" > >(tee "$data/$r.out" | sed -u "s/^/[$r] /") 2> >(sed -u "s/^/[$r] /" >&2) &
  pids+=($!)
done

# A region has started when it says it listens (after its bind: a port answering could be
# another process's). One that exits first, say because its port or data directory is taken
# by a running quickstart, stops them all.
for i in "${!regions[@]}"; do
  r=${regions[$i]}
  started=0
  for _ in $(seq 1 300); do
    if grep -q "listening on" "$data/$r.out"; then started=1; break; fi
    kill -0 "${pids[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  if ((!started)); then
    echo "quickstart: region $r did not start (its message is above); stopping the others" >&2
    exit 1
  fi
done
cat <<TXT

Meridian is running three regions on loopback, each replicating from the other two:
  us-east   http://127.0.0.1:7001
  eu-west   http://127.0.0.1:7002
  ap-south  http://127.0.0.1:7003

The collaborative-document demo: open http://127.0.0.1:7001/ui/ and http://127.0.0.1:7002/ui/
in two browser windows, pick the same document, and type in both.

Try:
  curl -X PUT -H 'Content-Type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:7001/v1/collections/users/docs/ada
  curl http://127.0.0.1:7002/v1/collections/users/docs/ada
  curl http://127.0.0.1:7003/v1/cluster

Press Ctrl-C to stop all three.
TXT
wait
