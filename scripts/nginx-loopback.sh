#!/usr/bin/env bash
# scripts/nginx-loopback.sh RUN_DIR LISTEN UPSTREAM...
#
# Renders deploy/nginx/loopback.conf.tmpl into RUN_DIR/nginx.conf for an
# nginx on loopback in front of local catqms replicas, and prints its path.
# Example:
#   conf=$(scripts/nginx-loopback.sh "$tmp/nginx" 127.0.0.1:18080 127.0.0.1:18081 127.0.0.1:18082)
#   nginx -c "$conf" -p "$tmp/nginx" &    # daemon off: stop it with kill $!
set -euo pipefail

if (($# < 3)); then
	echo "usage: $0 RUN_DIR LISTEN_ADDR UPSTREAM_ADDR..." >&2
	exit 2
fi
run_dir=$1 listen=$2
shift 2

tmpl="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/nginx/loopback.conf.tmpl"
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)

addr_re='^[][0-9A-Za-z.:-]+$' # host:port or [v6]:port, nothing nginx would parse as syntax
[[ $listen =~ $addr_re ]] || {
	echo "$0: bad listen address: $listen" >&2
	exit 2
}
servers=""
for upstream in "$@"; do
	[[ $upstream =~ $addr_re ]] || {
		echo "$0: bad upstream address: $upstream" >&2
		exit 2
	}
	servers+="        server $upstream max_fails=3 fail_timeout=5s;"$'\n'
done
servers=${servers%$'\n'}

conf=$(<"$tmpl")
conf=${conf//@RUN_DIR@/$run_dir}
conf=${conf//@LISTEN@/$listen}
conf=${conf//@UPSTREAM_SERVERS@/$servers}
printf '%s\n' "$conf" >"$run_dir/nginx.conf"
printf '%s\n' "$run_dir/nginx.conf"
