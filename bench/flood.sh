#!/usr/bin/env bash
# bench/flood.sh: does one client flooding the token endpoint at 10× its
# quota cut another client's throughput? Loopback only, PostgreSQL.
#
# 1. Starts `portero serve --dev` with rate limits on, on a fresh database,
#    and allows 127.0.0.0/8 (internal services on an allowed network are
#    exempt from the per-address limits, so only the per-client quotas act).
# 2. Runs the steady client alone (wrk -t1 -c$STEADY_CONNS, a quota it
#    never reaches), then beside a flooder in two ways:
#    a. paced: the flooder keeps the default quota (600/min = 10/s) and
#       sends 10× that (wrk -c1 with a 10 ms pause, token-paced.lua);
#    b. at full speed: the flooder's quota is a tenth of what it can send
#       alone, and it sends all it can: a denial of service by CPU, which
#       the per-address limits and network rules are for.
# 3. Reports the steady client's req/s in each case, its ratio to alone
#    and to a bare net/http handler measured in the same run with the same
#    wrk settings (bench/bare), and the flooder's 200s and 429s.
#
# Knobs: BENCH_DURATION (10s), STEADY_CONNS (16), FLOOD_CONNS (16),
# BENCH_PORT (18480), PGHOST/PGPORT/PGUSER (127.0.0.1 5432 postgres).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=$BENCH/.bin/portero
BARE_BIN=$BENCH/.bin/bare
DURATION=${BENCH_DURATION:-10s}
STEADY_CONNS=${STEADY_CONNS:-16}
FLOOD_CONNS=${FLOOD_CONNS:-16}
PORT=${BENCH_PORT:-18480}
BASE=http://127.0.0.1:$PORT
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=portero_flood
DB_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"
OUT=${BENCH_OUT:-$BENCH/results/flood-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT" "$BENCH/.run"

die() { echo "flood.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
for tool in go wrk curl psql; do command -v "$tool" >/dev/null || die "$tool is required"; done

PID=""
cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$BIN" ./cmd/portero && go build -o "$BARE_BIN" ./bench/bare)
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
portero() { PORTERO_DATABASE_URL=$DB_URL PORTERO_LOG_LEVEL=warn "$BIN" "$@"; }

(
	cd "$BENCH/.run"
	exec env PORTERO_DATABASE_URL="$DB_URL" PORTERO_SECRETS_SYSTEM="bench-system-secret-0123456789abcdefghijkl" \
		PORTERO_ISSUER="$BASE" PORTERO_HTTP_ADDRESS="127.0.0.1:$PORT" PORTERO_LOG_LEVEL=warn \
		PORTERO_RATE_LIMITS_ENABLED=true "$BIN" serve --dev
) >"$OUT/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fs -o /dev/null "$BASE/health/ready" && break; sleep 0.2; done
curl -fs -o /dev/null "$BASE/health/ready" || die "portero did not start"

portero networks allow 127.0.0.0/8 --note "bench: internal services" >/dev/null
client() { # ID QUOTA: prints base64(id:secret)
	local json secret
	json=$(portero --json clients create --id "$1" --grant-types client_credentials --scopes "" --roles vendor --token-rate-limit "$2")
	secret=$(sed -n 's/.*"client_secret": *"\([^"]*\)".*/\1/p' <<<"$json")
	printf '%s:%s' "$1" "$secret" | base64 -w0
}
STEADY=$(client steady 1000000)
FLOOD=$(client flood 0) # 0: the default quota, rate_limits.token_per_client (600/min)
sleep 2 # the network rule reaches the server (every replica within seconds)

wrk_run() { # NAME BASIC CONNS: runs wrk, writes $OUT/NAME.txt
	BENCH_BASIC=$2 wrk -t1 -c"$3" -d"$DURATION" -s "$BENCH/token.lua" "$BASE/oauth2/token" >"$OUT/$1.txt"
}
rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$OUT/$1.txt"; }
non2xx() { awk '/Non-2xx/ { print $NF }' "$OUT/$1.txt" | grep . || echo 0; }

paced() { # NAME: the flooder at 10× its default quota
	BENCH_BASIC=$FLOOD BENCH_DELAY_MS=10 wrk -t1 -c1 -d"$DURATION" -s "$BENCH/token-paced.lua" "$BASE/oauth2/token" >"$OUT/$1.txt"
}

log "bare net/http baseline (bench/bare), the steady client's wrk settings"
"$BARE_BIN" -addr "127.0.0.1:$((PORT + 1))" >"$OUT/bare.log" 2>&1 &
BARE_PID=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$((PORT + 1))/health" && break; sleep 0.1; done
BENCH_BASIC=x wrk -t1 -c"$STEADY_CONNS" -d"$DURATION" -s "$BENCH/token.lua" "http://127.0.0.1:$((PORT + 1))/oauth2/token" >"$OUT/bare.txt"
kill "$BARE_PID"
wait "$BARE_PID" 2>/dev/null || true

log "steady client alone"
wrk_run steady-alone "$STEADY" "$STEADY_CONNS"
log "steady client beside a paced flood (10× the default quota)"
paced flood-paced &
FLOOD_WRK=$!
wrk_run steady-paced "$STEADY" "$STEADY_CONNS"
wait "$FLOOD_WRK"

log "the flooder's demand alone, at full speed"
wrk_run flood-demand "$FLOOD" "$FLOOD_CONNS"
DEMAND=$(rps flood-demand)
QUOTA=$((DEMAND * 60 / 10)) # per minute: a tenth of its demand
portero clients update --id flood --token-rate-limit "$QUOTA" >/dev/null
sleep 2
log "flooder demand $DEMAND req/s; quota $QUOTA/min"
log "steady client beside the full-speed flood"
wrk_run flood-beside "$FLOOD" "$FLOOD_CONNS" &
FLOOD_WRK=$!
wrk_run steady-beside "$STEADY" "$STEADY_CONNS"
wait "$FLOOD_WRK"

ALONE=$(rps steady-alone)
PACED=$(rps steady-paced)
BESIDE=$(rps steady-beside)
BARE=$(rps bare)
ratio() { awk -v a="$ALONE" -v b="$1" 'BEGIN { printf "%.3f", a ? b / a : 0 }'; }
bare_ratio() { awk -v a="$BARE" -v b="$1" 'BEGIN { printf "%.3f", a ? b / a : 0 }'; }
{
	echo "### A flood beside a steady client, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- $(nproc) CPUs, wrk -t1 each, steady -c$STEADY_CONNS, -d$DURATION, rate limits on, 127.0.0.0/8 allowed (per-address limits off for it)"
	echo "- paced flood: the default quota (600/min), wrk -c1 with a 10 ms pause (at most 100 req/s: 10× the quota)"
	echo "- full-speed flood: -c$FLOOD_CONNS; alone it sent $DEMAND req/s; its quota then: $QUOTA/min, a tenth of that"
	echo
	echo "- bare net/http (bench/bare, wrk -t1 -c$STEADY_CONNS, same run): $BARE req/s"
	echo
	echo "| | steady req/s | ratio to alone | ratio to bare | steady non-2xx | flood req/s | flood non-2xx (429) |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	echo "| steady alone | $ALONE | 1.000 | $(bare_ratio "$ALONE") | $(non2xx steady-alone) | | |"
	echo "| beside the paced flood (10× quota) | $PACED | $(ratio "$PACED") | $(bare_ratio "$PACED") | $(non2xx steady-paced) | $(rps flood-paced) | $(non2xx flood-paced) |"
	echo "| beside the full-speed flood | $BESIDE | $(ratio "$BESIDE") | $(bare_ratio "$BESIDE") | $(non2xx steady-beside) | $(rps flood-beside) | $(non2xx flood-beside) |"
} | tee "$OUT/results.md"
