#!/usr/bin/env bash
# scripts/test.sh — every check the project runs, in the order CI runs them
# (.ci/run execs this). Works from any directory, as root (CI) or as a user.
#
#   1. installs the system programs the integration tests need (redis-server,
#      redis-sentinel, redis-tools, chromium, nginx-light, nodejs, npm, curl,
#      openssl) when missing, and the page audit tools (axe-core, Lighthouse)
#      and the OpenAPI linter from npm;
#   2. go vet, gofmt, go test -race, each timed, stopping at the first failure;
#   3. on exit, stops anything the run left behind and removes its temp dir.
#
# Usage: scripts/test.sh [PACKAGES...]   (default ./...; gofmt always checks the whole tree)
#
# It sets CATQMS_REQUIRE_INTEGRATION=1, so a test that needs redis-server or
# Chromium fails rather than skips: CI can never go green by skipping.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Daemons (nginx, redis-server) live in sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

packages=("$@")
((${#packages[@]})) || packages=(./...)

# Debian packages the tests need, and a command that proves each is there.
PACKAGES=(redis-server redis-sentinel redis-tools chromium nginx-light nodejs npm curl openssl)
declare -A PACKAGE_COMMAND=(
	[redis-server]=redis-server
	[redis-sentinel]=redis-sentinel
	[redis-tools]=redis-cli
	[chromium]=chromium
	[nginx-light]=nginx
	[nodejs]=node     # checks and unit-tests the page's JavaScript
	[npm]=npm         # installs axe-core, Lighthouse and the OpenAPI linter
	[curl]=curl       # the README's examples, run by internal/e2e/readme_test.go
	[openssl]=openssl # ditto: the admin example makes its token with it
)
# Services a package's postinst may start; stopped again if this run installed them.
SERVICES=(redis-server redis-sentinel nginx)

created_policy_rc=0 # 1: this run wrote /usr/sbin/policy-rc.d and must remove it
installed=()        # packages this run installed
work_tmp=""         # TMPDIR of the run: every test's files, and the mark of its processes
SUDO=()             # (sudo -n) when not root

# ---------------------------------------------------------------- helpers

say() { printf '%s\n' "$*"; }
die() {
	printf '\nscripts/test.sh: ERROR: %s\n' "$*" >&2
	exit 1
}

now_us() { printf '%s' "${EPOCHREALTIME/./}"; }
fmt_secs() { printf '%d.%02ds' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

step_names=()
step_times=()
step_status=()
summary() {
	((${#step_names[@]})) || return 0
	say ""
	say "==> summary"
	local i
	for i in "${!step_names[@]}"; do
		printf '    %-6s %9s  %s\n' "${step_status[$i]}" "${step_times[$i]}" "${step_names[$i]}"
	done
}

# run_step NAME CMD... runs CMD in a subshell (so errexit applies inside it),
# prints a heading and the time it took, and stops the script if it fails.
run_step() {
	local name=$1 start rc elapsed
	shift
	say ""
	say "==> [$((${#step_names[@]} + 1))] $name"
	start=$(now_us)
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	elapsed=$(fmt_secs $(($(now_us) - start)))
	step_names+=("$name")
	step_times+=("$elapsed")
	if ((rc != 0)); then
		step_status+=(FAILED)
		say "==> FAILED: $name (exit $rc, $elapsed)"
		exit "$rc"
	fi
	step_status+=(ok)
	say "==> ok: $name ($elapsed)"
}

# ---------------------------------------------------------------- cleanup

# stop_leftovers ends processes whose command line points into this run's
# TMPDIR: redis-server --dir …, chromium --user-data-dir …, a hung test
# binary. Only those: nothing this run did not start is touched.
stop_leftovers() {
	[[ -n $work_tmp ]] || return 0
	local pids=() pid cmdline
	for pid in /proc/[0-9]*; do
		pid=${pid#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		cmdline=$(tr "\\0" " " 2>/dev/null <"/proc/$pid/cmdline") || continue
		[[ $cmdline == *"$work_tmp"* ]] && pids+=("$pid")
	done
	((${#pids[@]})) || return 0
	say "==> WARNING: processes left running by the tests (a test does not clean up):"
	for pid in "${pids[@]}"; do
		say "    $pid $(tr "\\0" " " 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-200)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	local i
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

stop_installed_services() {
	((${#installed[@]})) || return 0
	command -v service >/dev/null 2>&1 || return 0
	local svc
	for svc in "${SERVICES[@]}"; do
		[[ " ${installed[*]} " == *" $svc "* ]] || continue
		if "${SUDO[@]}" service "$svc" status >/dev/null 2>&1; then
			say "==> stopping the $svc service that apt started"
			"${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
		fi
	done
}

remove_policy_rc() {
	if ((created_policy_rc)); then
		"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d || true
		created_policy_rc=0
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_leftovers || true
	remove_policy_rc
	stop_installed_services || true
	[[ -n $work_tmp ]] && rm -rf "$work_tmp"
	summary
	if ((rc == 0)); then
		say "==> scripts/test.sh: all steps passed"
	else
		say "==> scripts/test.sh: FAILED (exit $rc)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- install

apt_get() {
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q "$@"
}

install_missing() {
	local missing=() pkg
	for pkg in "${PACKAGES[@]}"; do
		if [[ $pkg == chromium && -n ${CATQMS_CHROMIUM:-} && -x ${CATQMS_CHROMIUM} ]]; then
			continue # an explicitly chosen browser
		fi
		command -v "${PACKAGE_COMMAND[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		say "all present: ${PACKAGES[*]}"
		return 0
	fi
	local how="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
	local sudo_how="sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
	say "missing: ${missing[*]}"
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			SUDO=(sudo -n)
			how=$sudo_how
		else
			die "missing Debian packages: ${missing[*]}. Not root and no password-less sudo; install them yourself with: $sudo_how"
		fi
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "missing packages: ${missing[*]}, and there is no apt-get here; install them with your package manager (Debian: $how)"

	# Keep apt's postinst scripts from starting redis-server as a system
	# service: the tests start their own on free ports.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# written by catqms scripts/test.sh for one apt-get run\nexit 101\n' |
			"${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${SUDO[@]}" chmod 0755 /usr/sbin/policy-rc.d
		created_policy_rc=1
	fi
	local try ok=0
	for try in 1 2 3; do
		if apt_get update && apt_get install -y --no-install-recommends "${missing[@]}"; then
			ok=1
			break
		fi
		say "apt-get failed (try $try of 3); retrying in $((try * 5))s"
		sleep $((try * 5))
	done
	installed=("${missing[@]}")
	remove_policy_rc
	stop_installed_services
	((ok)) || die "could not install ${missing[*]}; run: $how"
	for pkg in "${missing[@]}"; do
		command -v "${PACKAGE_COMMAND[$pkg]}" >/dev/null 2>&1 ||
			die "package $pkg installed but '${PACKAGE_COMMAND[$pkg]}' is not on PATH ($PATH)"
	done
}

# ---------------------------------------------------------------- steps

check_gofmt() {
	local out
	out=$(gofmt -l .)
	if [[ -n $out ]]; then
		say "gofmt would change these files (run: gofmt -w .):"
		say "$out"
		return 1
	fi
}

# ---------------------------------------------------------------- main

command -v go >/dev/null 2>&1 || die "go not found on PATH: install Go $(sed -n 's/^go //p' go.mod) (https://go.dev/dl/)"

start=$(now_us)
say "==> [1] install system packages"
install_missing
step_names+=("install system packages")
step_times+=("$(fmt_secs $(($(now_us) - start)))")
step_status+=(ok)

export CATQMS_REQUIRE_INTEGRATION=1
export CATQMS_REDIS_SERVER="${CATQMS_REDIS_SERVER:-$(command -v redis-server)}"
export CATQMS_CHROMIUM="${CATQMS_CHROMIUM:-$(command -v chromium)}"
[[ -x $CATQMS_REDIS_SERVER ]] || die "CATQMS_REDIS_SERVER=$CATQMS_REDIS_SERVER is not executable"
[[ -x $CATQMS_CHROMIUM ]] || die "CATQMS_CHROMIUM=$CATQMS_CHROMIUM is not executable"

# Every test's temporary files, and so every process a test starts with a
# --dir or --user-data-dir, live under this directory: cleanup finds them.
work_tmp=$(mktemp -d "${TMPDIR:-/tmp}/catqms-test.XXXXXX")
export TMPDIR=$work_tmp
# A catqms a test starts on the embedded store saves its line to the state
# folder (--data-dir auto): this run's own, never the home's.
export XDG_STATE_HOME=$work_tmp/state

say ""
say "==> environment"
say "    $(go version)"
say "    redis-server: $CATQMS_REDIS_SERVER ($("$CATQMS_REDIS_SERVER" --version | cut -d' ' -f1-3))"
say "    chromium:     $CATQMS_CHROMIUM ($("$CATQMS_CHROMIUM" --version 2>/dev/null | head -n1 || echo '?'))"
say "    CATQMS_REQUIRE_INTEGRATION=$CATQMS_REQUIRE_INTEGRATION TMPDIR=$TMPDIR CI=${CI:-}"

# The page audits' tools, pinned, from npm: axe-core (injected by the
# browser tests into every state of /, /board and /stats) and Lighthouse (below).
# Installed once per version into a cache; they drive the system chromium
# (CHROME_PATH), never a downloaded browser. Lighthouse 12.2.3, not 13:
# 13 needs Node 22, and Debian 12's nodejs is 18 (12.2.3 needs 18.16).
PAGE_TOOLS=(axe-core@4.14.1 lighthouse@12.2.3)
page_tools_dir=${XDG_CACHE_HOME:-${HOME:-$work_tmp}/.cache}/catqms-page-tools/$(printf '%s_' "${PAGE_TOOLS[@]}" | tr '@/' '--')
install_page_tools() {
	if [[ ! -f $page_tools_dir/installed ]]; then
		rm -rf "$page_tools_dir"
		mkdir -p "$page_tools_dir"
		printf '{"private":true}\n' >"$page_tools_dir/package.json"
		(cd "$page_tools_dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --save-exact "${PAGE_TOOLS[@]}")
		touch "$page_tools_dir/installed"
	fi
	[[ -f $page_tools_dir/node_modules/axe-core/axe.min.js ]]
}
run_step "install page audit tools (${PAGE_TOOLS[*]})" install_page_tools
export CATQMS_AXE=$page_tools_dir/node_modules/axe-core/axe.min.js

run_step "go vet ${packages[*]}" go vet "${packages[@]}"
run_step "gofmt -l ." check_gofmt
run_step "go test -race -count=1 ${packages[*]}" go test -race -count=1 -timeout 15m "${packages[@]}"
# Lighthouse on /, /board and /stats (mobile): accessibility, best practices and
# SEO 100, performance at least 95. (axe-core ran in the browser tests.)
run_step "lighthouse /, /board and /stats (budgets)" scripts/lighthouse.sh "$page_tools_dir" "$work_tmp/lighthouse"
# Stack sizes, which the race detector enlarges: the test skips under -race
# and runs here without it.
run_step "go test -count=1 ./hub -run TestIdleReaderKeepsASmallStack (no -race)" \
	go test -count=1 -run '^TestIdleReaderKeepsASmallStack$' -v ./hub

# ---------------------------------------------------------------- EXTRA STEPS
# Supply chain and bad input. The tools run with `go run pkg@version`, which
# fetches them from the module proxy and leaves go.mod alone.

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
# The Go vulnerability database, as the module golang.org/x/vulndb carries
# it (OSV reports under data/osv). govulncheck would download the database
# from vuln.go.dev, which CI cannot reach; the proxy serves this module.
# Move the version forward to get newer reports.
VULNDB=golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
# Fuzzing runs a number of inputs, not a time (about 5 s each here): with
# a time, Go 1.26's fuzz coordinator can fail the target with "context
# deadline exceeded" as the time runs out, having found nothing
# (go.dev/issue/75804, fixed in Go 1.27). CATQMS_FUZZ_SCALE multiplies them.
FUZZ_SCALE=${CATQMS_FUZZ_SCALE:-1}
fuzz_parse_token=$((300000 * FUZZ_SCALE))x
fuzz_parse_image=$((300000 * FUZZ_SCALE))x
fuzz_api=$((5000 * FUZZ_SCALE))x

# vulndb_dir prints the directory of a govulncheck database (index/db.json,
# index/modules.json, ID/<id>.json) built from $VULNDB's data/osv by the
# vulndb module's own cmd/indexdb, building it once per version into the Go
# build cache.
vulndb_dir() {
	local cache src
	cache=$(go env GOCACHE)
	[[ -n $cache && $cache != off ]] || cache=$work_tmp
	cache=$cache/catqms-vulndb/${VULNDB#*@}
	if [[ ! -f $cache/index/db.json ]]; then
		# Outside this module, so that nothing touches go.mod or go.sum.
		src=$(cd "$work_tmp" && go mod download -json "$VULNDB" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[[ -d $src/data/osv ]] || {
			say "no data/osv in $VULNDB (got dir '$src')" >&2
			return 1
		}
		rm -rf "$cache.tmp"
		mkdir -p "$(dirname "$cache")"
		(cd "$work_tmp" && go run "${VULNDB%@*}/cmd/indexdb@${VULNDB#*@}" -vulns "$src/data/osv" -out "$cache.tmp") >&2
		rm -rf "$cache"
		mv "$cache.tmp" "$cache"
	fi
	printf '%s' "$cache"
}

govulncheck_local() {
	local db
	db=$(vulndb_dir)
	say "database: $db ($VULNDB, $(find "$db/ID" -name '*.json' | wc -l) reports)"
	# govulncheck exits 3 when it finds anything; vulnreport decides: a
	# called vulnerability in a module fails, one in the machine's standard
	# library is a warning naming the Go release that fixes it.
	local out=$work_tmp/govulncheck.json rc=0
	go run "$GOVULNCHECK" -db "file://$db" -format json ./... >"$out" || rc=$?
	((rc == 0 || rc == 3)) || return "$rc"
	go run ./scripts/vulnreport <"$out"
}

# The OpenAPI document, linted by Redocly's CLI at a pinned version,
# installed with npm into this run's temporary directory.
REDOCLY=@redocly/cli@2.77.0
lint_openapi() {
	command -v npm >/dev/null 2>&1 || {
		say "npm not found: it comes with the nodejs package"
		return 1
	}
	local dir=$work_tmp/redocly
	npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --silent "$REDOCLY" >&2
	"$dir/node_modules/.bin/redocly" lint --config api/redocly.yaml --format stylish api/openapi.json
}
run_step "redocly lint api/openapi.json ($REDOCLY)" lint_openapi

# The deployment topology with real processes: Redis with AOF, three
# replicas behind nginx, a replica and then Redis killed during 100 visits.
run_step "cluster smoke (3 replicas, nginx, faults)" scripts/cluster-smoke.sh
run_step "staticcheck ./..." go run "$STATICCHECK" ./...
run_step "govulncheck ./... (local database from ${VULNDB%@*})" govulncheck_local
# The seed corpora (testdata/fuzz) ran with the tests above; these look for
# new inputs for a few seconds each.
run_step "fuzz FuzzParseToken ($fuzz_parse_token)" go test -run '^$' -fuzz '^FuzzParseToken$' -fuzztime "$fuzz_parse_token" ./queue
run_step "fuzz FuzzParseImageID ($fuzz_parse_image)" go test -run '^$' -fuzz '^FuzzParseImageID$' -fuzztime "$fuzz_parse_image" ./queue
run_step "fuzz FuzzAPI ($fuzz_api)" go test -run '^$' -fuzz '^FuzzAPI$' -fuzztime "$fuzz_api" ./server
# ------------------------------------------------------------ END EXTRA STEPS
