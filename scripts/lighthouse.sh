#!/usr/bin/env bash
# scripts/lighthouse.sh — Lighthouse on the ticket page, the TV board and the stats page,
# with mobile emulation (Lighthouse's default), in Debian's chromium, with
# a line in full swing (one viewing, one called, 78 waiting). Fails unless
# every page scores accessibility, best practices and SEO 100 and
# performance at least 95, and prints every audit that fell short.
#
# Usage: scripts/lighthouse.sh LIGHTHOUSE_DIR [REPORT_DIR]
#   LIGHTHOUSE_DIR holds node_modules/lighthouse (scripts/test.sh installs
#   it with npm); CATQMS_CHROMIUM (default: chromium on PATH) is the browser.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools=${1:?usage: scripts/lighthouse.sh LIGHTHOUSE_DIR [REPORT_DIR]}
reports=${2:-$(mktemp -d "${TMPDIR:-/tmp}/catqms-lighthouse.XXXXXX")}
mkdir -p "$reports"
cli=$tools/node_modules/lighthouse/cli/index.js
[[ -f $cli ]] || { echo "no Lighthouse at $cli" >&2; exit 1; }
chrome=${CATQMS_CHROMIUM:-$(command -v chromium)}

work=$(mktemp -d "${TMPDIR:-/tmp}/catqms-lh.XXXXXX")
pid=""
stop() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap stop EXIT

go build -o "$work/catqms" ./cmd/catqms
# Port 0: catqms takes a free port and logs it ("listening"). A port chosen
# here first could be taken by anything in between (it was, once). The
# line is kept nowhere (--data-dir off): never the home's saved line.
"$work/catqms" --addr 127.0.0.1:0 --data-dir off --trusted-proxies 127.0.0.1/32 --counters 2 \
	--head-window 10m --view-window 10m --log-level info --log-format text >"$work/catqms.log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 100); do
	addr=$(sed -n 's/.* msg=listening addr=\([0-9.]*:[0-9]*\) .*/\1/p' "$work/catqms.log" | head -1)
	[[ -n $addr ]] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[[ -n $addr ]] || { echo "catqms did not start:"; cat "$work/catqms.log"; exit 1; } >&2
base=http://$addr
# Wait for it, then fill a line in full swing (Node's fetch: no curl
# needed). Each address may hold 10 tickets.
node - "$base" <<'JS' || { echo "catqms did not start or refused the tickets:"; cat "$work/catqms.log"; exit 1; } >&2
const base = process.argv[2];
const as = (ip) => ({ 'X-Forwarded-For': ip });
(async () => {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/readyz`)).ok) break; } catch {}
    if (i > 50) throw new Error('not ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const first = await (await fetch(`${base}/api/v1/token`, { headers: as('192.0.2.1') })).json();
  const redeem = await fetch(`${base}/api/v1/kitty`, {
    method: 'POST', headers: { ...as('192.0.2.1'), 'Content-Type': 'application/json' }, body: JSON.stringify({ token: first.token }),
  });
  if (!redeem.ok) throw new Error(`redeem: ${redeem.status}`);
  for (let i = 0; i < 79; i++) {
    const r = await fetch(`${base}/api/v1/token`, { headers: as(`192.0.2.${10 + Math.floor(i / 8)}`) });
    if (!r.ok) throw new Error(`take ${i}: ${r.status}`);
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
JS

failed=0
for page in / /board /stats; do
	name=${page#/}
	name=${name:-index}
	CHROME_PATH=$chrome node "$cli" "$base$page" --quiet \
		--chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking --disable-component-update --no-first-run --disable-sync --user-data-dir=$work/profile-$name" \
		--only-categories=performance,accessibility,best-practices,seo \
		--output=json --output-path="$reports/$name.json"
	node - "$reports/$name.json" "$page" <<'JS' || failed=1
const [file, page] = process.argv.slice(2);
const report = JSON.parse(require('fs').readFileSync(file, 'utf8'));
const budget = { performance: 0.95, accessibility: 1, 'best-practices': 1, seo: 1 };
let ok = true;
const scores = [];
for (const [id, min] of Object.entries(budget)) {
  const score = report.categories[id].score;
  scores.push(`${id} ${Math.round(score * 100)}`);
  if (score < min) ok = false;
}
console.log(`${page}: ${scores.join(', ')}${ok ? '' : '  (below budget)'}`);
for (const a of Object.values(report.audits)) {
  if (a.score !== null && a.score < 1 && ['binary', 'numeric', 'metricSavings'].includes(a.scoreDisplayMode)) {
    console.log(`    ${a.id}: ${a.score}${a.displayValue ? ` (${a.displayValue})` : ''} — ${a.title}`);
  }
}
process.exit(ok ? 0 : 1);
JS
done
echo "reports: $reports"
exit "$failed"
