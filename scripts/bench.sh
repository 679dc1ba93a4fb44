#!/usr/bin/env bash
# bench.sh: every benchmark scenario of BENCHMARKS.md against a real
# redis-server on loopback, side by side with its ceilings; rewrites
# BENCHMARKS.md and docs/bench-*.png.
#
#   scripts/bench.sh            the full run (about 35 minutes on 2 cores)
#   scripts/bench.sh --quick    a reduced version of every scenario (a few minutes);
#                               its report goes to bench-out/, never over BENCHMARKS.md
#   scripts/bench.sh s7         one scenario (s0…s8), printed as JSON; the report is left alone
#
# BENCH_ARGS="--s7-watchers 5000" passes flags on to catqms-bench (for
# developing a scenario with other sizes).
# BENCH_OUT=dir keeps the results (JSON) and the servers' logs in dir (a
# quick run's report too; by default bench-out/).
#
# Needs redis-server and redis-benchmark (apt-get install redis-server
# redis-tools) and taskset (util-linux). The service and the ceiling servers
# run on CPU 1, Redis and the load generator on CPU 0.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

mode=all
quick=false
flags=()
for arg in "$@"; do
	case "$arg" in
	--quick) quick=true flags+=(--quick) ;;
	s0 | s1 | s2 | s3 | s4 | s5 | s6 | s7 | s8) mode=$arg ;;
	*)
		echo "usage: scripts/bench.sh [--quick] [s0|s1|s2|s3|s4|s5|s6|s7|s8]" >&2
		exit 2
		;;
	esac
done

for bin in redis-server redis-benchmark redis-cli taskset; do
	command -v "$bin" >/dev/null || {
		echo "bench.sh: $bin is missing (apt-get install -y redis-server redis-tools util-linux)" >&2
		exit 1
	}
done

# Pin only where there are two CPUs to spare.
service_cpu=1 client_cpu=0
if [ "$(nproc)" -lt 2 ]; then
	service_cpu="" client_cpu=""
fi
pin=()
[ -z "$client_cpu" ] || pin=(taskset -c "$client_cpu")

# WebSocket watchers need a descriptor each, on both ends: as many as the
# hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/catqms-bench.XXXXXX")
redis_pid=""
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench.sh: building into $tmp" >&2
go build -o "$tmp/catqms" ./cmd/catqms
go build -o "$tmp/catqms-bench" ./cmd/catqms-bench

port=$("$tmp/catqms-bench" freeport)
mkdir -p "$tmp/redis"
"${pin[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis" \
	--save "" --appendonly no --maxclients 1000 --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.05
done
redis-cli -p "$port" ping >/dev/null

cmdline="scripts/bench.sh${*:+ $*}"
out=${BENCH_OUT:-$tmp/out}
if [ -z "${BENCH_OUT:-}" ] && [ "$mode" = all ] && $quick; then
	out=$root/bench-out # a quick run's report, kept
fi
"${pin[@]}" "$tmp/catqms-bench" "$mode" \
	--redis "127.0.0.1:$port" \
	--catqms "$tmp/catqms" \
	--service-cpu "$service_cpu" \
	--client-cpu "$service_cpu" \
	--out "$out" \
	--md "$root/BENCHMARKS.md" \
	--docs "$root/docs" \
	--cmdline "$cmdline" \
	"${flags[@]}" ${BENCH_ARGS:-}
if [ "$mode" = all ] && $quick; then
	echo "bench.sh: wrote $out/BENCHMARKS.md and $out/docs/bench-*.png (a quick run leaves BENCHMARKS.md alone)" >&2
elif [ "$mode" = all ]; then
	echo "bench.sh: wrote BENCHMARKS.md and docs/bench-*.png" >&2
fi
