#!/usr/bin/env bash
# scripts/cluster-smoke.sh — the deployment topology with real processes, on
# loopback: one redis-server (AOF, appendfsync always), three catqms replicas
# built from ./cmd/catqms, and nginx in front (deploy/nginx/loopback.conf.tmpl
# via scripts/nginx-loopback.sh). cmd/catqms-smoke drives visits through
# nginx while this script SIGKILLs one replica and restarts it, then SIGKILLs
# redis-server and restarts it; then `catqms verify` checks the public
# record of the run. The driver exits non-zero unless every
# ticket it was given ends served, expired or left: none lost, none twice.
#
# Usage: scripts/cluster-smoke.sh [-visits N] [other catqms-smoke flags]
#
# Everything runs in a fresh temp dir on free ports; on exit (success,
# failure or ^C) every process this script started is stopped by its pid and
# the temp dir is removed (kept, with its logs, when the run failed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

# Windows short enough that a hundred visits take about a minute.
CATQMS_FLAGS=(--head-window 3s --view-window 1s --counters 3 --max-tickets-per-ip 10
	--trusted-proxies 127.0.0.1/32 --secret cluster-smoke-secret-0123456789abcdef
	--log-format text --log-level info)

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'cluster-smoke: ERROR: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------- tools

need_nginx() {
	command -v nginx >/dev/null 2>&1 && return 0
	[[ -x /usr/sbin/nginx ]] && {
		PATH=$PATH:/usr/sbin
		return 0
	}
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
			die "nginx is not installed; install it with: sudo apt-get install -y nginx-light"
		sudo=(sudo -n)
	fi
	command -v apt-get >/dev/null 2>&1 || die "nginx is not installed and there is no apt-get; install nginx"
	say "installing nginx-light"
	# Keep the package's postinst from starting nginx as a system service.
	local policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${sudo[@]}" chmod 0755 /usr/sbin/policy-rc.d
		policy=1
	fi
	local ok=0
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends nginx-light && ok=1
	((policy)) && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
	((ok)) || die "could not install nginx-light; run: apt-get install -y nginx-light"
	PATH=$PATH:/usr/sbin
	command -v nginx >/dev/null 2>&1 || die "nginx-light installed but nginx is not on PATH"
}

command -v go >/dev/null 2>&1 || die "go not found on PATH"
command -v redis-server >/dev/null 2>&1 || die "redis-server not found; install it: apt-get install -y redis-server"
command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found; install it: apt-get install -y redis-tools"
need_nginx

# ---------------------------------------------------------------- cleanup

tmp=$(mktemp -d "${TMPDIR:-/tmp}/catqms-cluster-smoke.XXXXXX")
chmod 755 "$tmp" # nginx workers may run as another user and need to reach their temp dirs
declare -A pids=() # name → pid of each process this script started
failed=1

stop_all() {
	local name pid
	for name in "${!pids[@]}"; do
		pid=${pids[$name]}
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if ((rc != 0 || failed)); then
		say "FAILED (exit $rc); logs kept in $tmp:"
		local f
		for f in "$tmp"/*.log "$tmp"/nginx/error.log; do
			[[ -s $f ]] || continue
			printf -- '--- %s (last 15 lines)\n' "$f"
			tail -n 15 "$f"
		done
		((rc != 0)) || rc=1
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build

say "building catqms and catqms-smoke into $tmp"
go build -o "$tmp/catqms" ./cmd/catqms
go build -o "$tmp/catqms-smoke" ./cmd/catqms-smoke

mapfile -t ports < <("$tmp/catqms-smoke" -free-ports 5)
redis_port=${ports[0]} proxy_port=${ports[1]}
replica_ports=("${ports[2]}" "${ports[3]}" "${ports[4]}")

# ---------------------------------------------------------------- processes

start_redis() {
	mkdir -p "$tmp/redis"
	redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp/redis" --daemonize no \
		--save "" --appendonly yes --appendfsync always >>"$tmp/redis.log" 2>&1 &
	pids[redis]=$!
	local i
	for i in $(seq 150); do
		[[ $(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "${pids[redis]}" 2>/dev/null || die "redis-server exited at start"
		sleep 0.1
	done
	die "redis-server not answering on $redis_port after 15s"
}

# start_replica N starts replica N (1…3) and waits until it is healthy.
start_replica() {
	local n=$1 addr="127.0.0.1:${replica_ports[$(($1 - 1))]}"
	"$tmp/catqms" --addr "$addr" --redis-url "redis://127.0.0.1:$redis_port/0" "${CATQMS_FLAGS[@]}" \
		>>"$tmp/catqms-$n.log" 2>&1 &
	pids[catqms-$n]=$!
	local i
	for i in $(seq 150); do
		"$tmp/catqms" --healthcheck --addr "$addr" 2>/dev/null && return 0
		kill -0 "${pids[catqms-$n]}" 2>/dev/null || die "catqms replica $n exited at start"
		sleep 0.1
	done
	die "catqms replica $n not healthy on $addr after 15s"
}

# kill9 NAME SIGKILLs a process this script started and reaps it.
kill9() {
	kill -KILL "${pids[$1]}"
	wait "${pids[$1]}" 2>/dev/null || true
	unset "pids[$1]"
}

# visits_done prints how many visits the driver has finished.
visits_done() { cat "$tmp/progress" 2>/dev/null || echo 0; }

# wait_visits N waits until the driver has finished N visits, or has ended.
wait_visits() {
	while (($(visits_done) < $1)); do
		kill -0 "${pids[driver]}" 2>/dev/null || die "the driver ended before the faults were injected ($(visits_done) visits done)"
		sleep 0.1
	done
}

say "redis-server on 127.0.0.1:$redis_port (AOF, appendfsync always)"
start_redis
for n in 1 2 3; do
	start_replica "$n"
	say "catqms replica $n on 127.0.0.1:${replica_ports[$((n - 1))]}"
done
conf=$(scripts/nginx-loopback.sh "$tmp/nginx" "127.0.0.1:$proxy_port" \
	"127.0.0.1:${replica_ports[0]}" "127.0.0.1:${replica_ports[1]}" "127.0.0.1:${replica_ports[2]}")
nginx -c "$conf" -p "$tmp/nginx" >>"$tmp/nginx.log" 2>&1 &
pids[nginx]=$!
say "nginx on 127.0.0.1:$proxy_port"

# ---------------------------------------------------------------- drive, with faults

start=$SECONDS
"$tmp/catqms-smoke" -url "http://127.0.0.1:$proxy_port" -progress "$tmp/progress" -visits 100 "$@" &
pids[driver]=$!

wait_visits 15
say "$(visits_done) visits done: SIGKILL catqms replica 2"
kill9 catqms-2
sleep 2
say "$(visits_done) visits done: restarting catqms replica 2"
start_replica 2

wait_visits 45
say "$(visits_done) visits done: SIGKILL redis-server"
kill9 redis
sleep 2
say "$(visits_done) visits done: restarting redis-server (loading the AOF)"
start_redis

set +e
wait "${pids[driver]}"
rc=$?
set -e
unset "pids[driver]"
say "driver exited $rc after $((SECONDS - start))s"
((rc == 0)) || exit "$rc"

# The public record of all that, replica and store killed included, must
# verify: the chain, FIFO, no ticket served twice, every removal explained.
say "catqms verify: the public record, through the proxy"
"$tmp/catqms" verify "http://127.0.0.1:$proxy_port" || die "catqms verify found the record unsound (or could not read it)"
failed=0
