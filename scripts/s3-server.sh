#!/usr/bin/env bash
# A local S3-compatible server (moto) for the S3 blob store's tests, on a
# free loopback port. Installs moto into target/s3-venv on first use.
#
#   bash scripts/s3-server.sh start    # start (or reuse) it; prints its endpoint
#   bash scripts/s3-server.sh env      # the variables the tests read, as `export` lines
#   bash scripts/s3-server.sh status   # exit 0 when it is running
#   bash scripts/s3-server.sh stop     # stop it
#
# State lives in target/s3-server/: `endpoint` (http://127.0.0.1:PORT),
# `pid` and `log`. The bucket `gaia-test` is created on start. Credentials
# are dummies: moto accepts any.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/s3-venv"
state="$root/target/s3-server"
bucket="gaia-test"
requirements="moto[server]>=5,<6"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Whether the recorded server process is alive and answers HTTP.
running() {
  [ -f "$state/pid" ] && [ -f "$state/endpoint" ] || return 1
  kill -0 "$(cat "$state/pid")" 2>/dev/null || return 1
  curl -s -o /dev/null --max-time 2 "$(cat "$state/endpoint")/" || return 1
}

install_moto() {
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >/dev/null
  fi
  if [ "$(cat "$venv/.gaia-requirements" 2>/dev/null)" != "$requirements" ]; then
    "$venv/bin/python" -m pip install --disable-pip-version-check -q "$requirements" >&2
    echo "$requirements" >"$venv/.gaia-requirements"
  fi
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  if running; then
    cat "$state/endpoint"
    return 0
  fi
  install_moto
  mkdir -p "$state"
  local port endpoint
  port="$(free_port)"
  endpoint="http://127.0.0.1:$port"
  # setsid: the server outlives this script and is not hit by the caller's Ctrl-C.
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  echo "$endpoint" >"$state/endpoint"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 "$endpoint/"; then
      # moto checks no signature: an anonymous PUT creates the bucket (idempotent).
      curl -s -o /dev/null --fail -X PUT "$endpoint/$bucket"
      echo "$endpoint"
      echo "s3-server: moto on $endpoint (bucket $bucket); stop it with: bash scripts/s3-server.sh stop" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "s3-server: moto did not start; its log:" >&2
  cat "$state/log" >&2
  stop
  return 1
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
  fi
  rm -f "$state/pid" "$state/endpoint"
}

env_lines() {
  running || { echo "s3-server: not running (bash scripts/s3-server.sh start)" >&2; return 1; }
  local endpoint
  endpoint="$(cat "$state/endpoint")"
  echo "export GAIA_TEST_S3_URL='s3://$bucket/gaia?endpoint=$endpoint&region=us-east-1'"
  echo "export AWS_ACCESS_KEY_ID=gaia-test-key AWS_SECRET_ACCESS_KEY=gaia-test-secret"
}

case "${1:-}" in
  start) start ;;
  env) env_lines ;;
  status) running ;;
  stop) stop ;;
  *) usage ;;
esac
