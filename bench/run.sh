#!/usr/bin/env bash
# bench/run.sh: load-test Portero on PostgreSQL with wrk, on loopback only.
#
# Builds bin/portero, creates a fresh PostgreSQL database (unless
# PORTERO_DATABASE_URL is given), starts `portero serve --dev`, measures
# start-up and idle RSS, creates two client_credentials clients with the CLI,
# then runs wrk against a bare net/http server answering the same form
# (bench/bare: the same-run baseline) and against the token and
# introspection endpoints, and prints a markdown table (req/s and its ratio
# to the bare baseline, p50/p99 latency, peak RSS, CPU per request).
# Optionally seeds BENCH_SEED_ROWS extra grant rows and runs every scenario
# again, to show that token look-ups stay flat as the table grows.
#
# Requirements: go, wrk (Debian package), curl, psql; PostgreSQL on
# 127.0.0.1:5432 (trust auth, user postgres) unless PORTERO_DATABASE_URL is
# set to a loopback database.
#
# Knobs (environment):
#   BENCH_DURATION     wrk duration per scenario             (20s)
#   BENCH_WARMUP       wrk warm-up per scenario, discarded   (3s; 0 skips)
#   BENCH_THREADS      wrk threads                           (2)
#   BENCH_CONNECTIONS  wrk connections                       (32)
#   BENCH_PORT         Portero's port on 127.0.0.1           (18480)
#   BENCH_LOG_LEVEL    Portero's log level under load        (warn)
#   BENCH_TOKEN_POOL   distinct tokens per introspection run (200)
#   BENCH_SEED_ROWS    grant rows to add, then re-run; 0 off (1000000;
#                      0 by default when PORTERO_DATABASE_URL is given)
#   BENCH_SCENARIOS    subset, e.g. "cc_jwt introspect_opaque" (all four)
#   BENCH_RATE_LIMITS  true runs with rate_limits on (their budgets, e.g.
#                      PORTERO_RATE_LIMITS_TOKEN_PER_CLIENT_REQUESTS, from the
#                      environment); off by default: one client on one address
#                      would measure the limit  (false)
#   BENCH_DB           database created, dropped at the end  (portero_bench)
#   BENCH_KEEP_DB      1 keeps that database after the run
#   PGHOST PGPORT PGUSER                                     (127.0.0.1 5432 postgres)
#   PORTERO_DATABASE_URL  use this (loopback) database instead; not dropped
#   BENCH_OUT          results directory   (bench/results/<UTC timestamp>)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=$BENCH/.bin/portero
BARE_BIN=$BENCH/.bin/bare

DURATION=${BENCH_DURATION:-20s}
WARMUP=${BENCH_WARMUP:-3s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
PORT=${BENCH_PORT:-18480}
BARE_PORT=$((PORT + 1))
LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
TOKEN_POOL=${BENCH_TOKEN_POOL:-200}
SCENARIOS=${BENCH_SCENARIOS:-cc_jwt cc_opaque introspect_jwt introspect_opaque}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
BENCH_DB=${BENCH_DB:-portero_bench}
OUT=${BENCH_OUT:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
BASE=http://127.0.0.1:$PORT
# Long enough that no token of the pool expires during a long run.
TOKEN_LIFESPAN=2h

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

for tool in go wrk curl psql; do
	command -v "$tool" >/dev/null || die "$tool is required (wrk: apt-get install -y wrk)"
done
[[ $PGHOST == 127.0.0.1 || $PGHOST == localhost ]] || die "PGHOST must be loopback, not $PGHOST"
if [[ -n ${PORTERO_DATABASE_URL:-} ]]; then
	DB_URL=$PORTERO_DATABASE_URL
	OWN_DB=0
	SEED_ROWS=${BENCH_SEED_ROWS:-0}
	[[ $DB_URL =~ ^postgres(ql)?://([^@/]*@)?(127\.0\.0\.1|localhost)(:[0-9]+)?/ ]] ||
		die "PORTERO_DATABASE_URL must point at 127.0.0.1 or localhost"
else
	DB_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$BENCH_DB?sslmode=disable"
	OWN_DB=1
	SEED_ROWS=${BENCH_SEED_ROWS:-1000000}
fi
mkdir -p "$OUT" "$BENCH/.run"
CLK_TCK=$(getconf CLK_TCK)

# --- helpers ---------------------------------------------------------------

SERVER_PID=""
SAMPLER_PID=""
cleanup() {
	[[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null || true
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	if ((OWN_DB)) && [[ ${BENCH_KEEP_DB:-0} != 1 && -n ${DB_CREATED:-} ]]; then
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }

# proc_field PID KEY prints a kB field of /proc/PID/status (VmRSS, VmHWM).
proc_field() {
	local k v _
	while read -r k v _; do
		[[ $k == "$2:" ]] && { echo "$v"; return; }
	done <"/proc/$1/status"
	echo 0
}

# cpu_ticks PID prints utime+stime of the process in clock ticks.
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) } # the command may contain spaces; fields restart after ")"
	read -r -a f <<<"$stat"
	echo $((f[11] + f[12])) # utime, stime (fields 14, 15)
}

# machine_ticks prints "busy total" jiffies of all CPUs.
machine_ticks() {
	local cpu user nice system idle iowait irq softirq steal _
	read -r cpu user nice system idle iowait irq softirq steal _ </proc/stat
	echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# postgres_ticks prints "pid ticks" (utime+stime) for every PostgreSQL
# process (comm "postgres", whoever it serves); postgres_delta A B sums what
# each process present in B used since A (a process that exited meanwhile is
# left out, one that started counts from zero).
postgres_ticks() {
	local p comm stat
	for p in /proc/[0-9]*; do
		{ read -r comm <"$p/comm"; } 2>/dev/null || continue
		[[ $comm == postgres ]] || continue
		{ read -r stat <"$p/stat"; } 2>/dev/null || continue
		stat=${stat##*) }
		read -r -a f <<<"$stat"
		echo "${p#/proc/} $((f[11] + f[12]))"
	done
}

postgres_delta() {
	awk 'NR == FNR { before[$1] = $2; next } { sum += $2 - ($1 in before ? before[$1] : 0) } END { print sum + 0 }' \
		<(echo "$1") <(echo "$2")
}

# db_transactions prints the transactions (statements outside a
# transaction count as one) the database has run: pg_stat_database, which
# needs no extension (pg_stat_statements needs a preloaded library).
db_transactions() {
	psql -X -At "$DB_URL" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
}

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# to_ms converts a wrk duration (850.00us, 1.23ms, 1.01s, 2.00m) to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}

portero() {
	PORTERO_DATABASE_URL=$DB_URL PORTERO_LOG_LEVEL=warn "$BIN" "$@"
}

# start_server LABEL LOG_LEVEL: starts Portero, waits until /health/ready
# answers 200 and sets SERVER_PID and READY_MS (launch to first 200).
start_server() {
	local label=$1 level=$2 t0 deadline
	t0=$(now_ns)
	deadline=$((t0 + 20000000000))
	(
		cd "$BENCH/.run"
		exec env PORTERO_DATABASE_URL="$DB_URL" \
			PORTERO_SECRETS_SYSTEM="bench-system-secret-0123456789abcdefghijkl" \
			PORTERO_ISSUER="$BASE" PORTERO_HTTP_ADDRESS="127.0.0.1:$PORT" \
			PORTERO_LOG_LEVEL="$level" PORTERO_LOG_FORMAT=json \
			PORTERO_OAUTH_ACCESS_TOKEN_LIFESPAN="$TOKEN_LIFESPAN" \
			PORTERO_RATE_LIMITS_ENABLED="${BENCH_RATE_LIMITS:-false}" \
			"$BIN" serve --dev
	) >"$OUT/server-$label.log" 2>&1 &
	SERVER_PID=$!
	until curl -fs -o /dev/null --max-time 1 "$BASE/health/ready"; do
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server-$label.log" >&2; die "portero exited during start-up"; }
		(($(now_ns) < deadline)) || die "portero not ready after 20s"
	done
	READY_MS=$((($(now_ns) - t0) / 1000000))
}

stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

# ready_log_startup LABEL prints the startup field of the "ready" log line.
ready_log_startup() {
	sed -n 's/.*"msg":"ready".*"startup":"\([^"]*\)".*/\1/p' "$OUT/server-$1.log" | head -1
}

# get_tokens BASIC N FILE: issues N client credentials tokens over one
# keep-alive connection and writes them to FILE, one per line.
get_tokens() {
	local basic=$1 n=$2 file=$3 urls=()
	for ((i = 0; i < n; i++)); do urls+=("$BASE/oauth2/token"); done
	curl -fsS -H "Authorization: Basic $basic" -d grant_type=client_credentials "${urls[@]}" |
		grep -o '"access_token":"[^"]*"' | cut -d'"' -f4 >"$file"
	(($(wc -l <"$file") == n)) || die "expected $n tokens in $file"
}

# check_active BASIC TOKEN fails unless introspection says active:true.
check_active() {
	curl -fsS -H "Authorization: Basic $1" --data-urlencode "token=$2" "$BASE/oauth2/introspect" |
		grep -q '"active":true' || die "token is not active on introspection"
}

# run_scenario NAME ROUND: one wrk run; appends a row to $OUT/results.tsv.
run_scenario() {
	local name=$1 round=$2 path lua basic tokens="" prefix
	case $name in
	cc_jwt) path=/oauth2/token lua=token.lua basic=$JWT_BASIC ;;
	cc_opaque) path=/oauth2/token lua=token.lua basic=$OPAQUE_BASIC ;;
	introspect_jwt)
		path=/oauth2/introspect lua=introspect.lua basic=$JWT_BASIC tokens=$OUT/tokens-jwt.txt
		get_tokens "$JWT_BASIC" "$TOKEN_POOL" "$tokens"
		;;
	introspect_opaque)
		path=/oauth2/introspect lua=introspect.lua basic=$JWT_BASIC tokens=$OUT/tokens-opaque.txt
		get_tokens "$OPAQUE_BASIC" "$TOKEN_POOL" "$tokens"
		;;
	*) die "unknown scenario $name" ;;
	esac
	if [[ -n $tokens ]]; then
		check_active "$JWT_BASIC" "$(head -1 "$tokens")"
	fi
	prefix=$OUT/wrk-$round-$name
	if [[ $WARMUP != 0 ]]; then
		BENCH_BASIC=$basic BENCH_TOKENS=$tokens wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" \
			-s "$BENCH/$lua" "$BASE$path" >"$prefix.warmup.txt"
	fi
	log "$round $name: wrk -t$THREADS -c$CONNS -d$DURATION --latency"

	# Peak RSS: sample VmRSS every 100ms while wrk runs; each new maximum is
	# appended (one short write), so killing the sampler never leaves the
	# file empty.
	: >"$prefix.peak_rss"
	(
		max=0
		while kill -0 "$SERVER_PID" 2>/dev/null; do
			v=$(proc_field "$SERVER_PID" VmRSS)
			((v > max)) && max=$v && echo "$max" >>"$prefix.peak_rss"
			sleep 0.1
		done
	) &
	SAMPLER_PID=$!
	local cpu0 m0 m1 cpu1 pg0 pg1 wrk_cpu tx0 tx1
	tx0=$(db_transactions)
	cpu0=$(cpu_ticks "$SERVER_PID")
	pg0=$(postgres_ticks)
	m0=$(machine_ticks)
	local TIMEFORMAT='%U %S'
	wrk_cpu=$({ time BENCH_BASIC=$basic BENCH_TOKENS=$tokens wrk -t"$THREADS" -c"$CONNS" \
		-d"$DURATION" --latency -s "$BENCH/$lua" "$BASE$path" >"$prefix.txt"; } 2>&1)
	cpu1=$(cpu_ticks "$SERVER_PID")
	pg1=$(postgres_ticks)
	m1=$(machine_ticks)
	sleep 1 # PostgreSQL flushes its statistics at least once a second
	tx1=$(db_transactions)
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=""
	if [[ -n $tokens ]]; then
		check_active "$JWT_BASIC" "$(head -1 "$tokens")"
	fi

	local rps p50 p99 reqs non2xx errors peak cpu_us wrk_pct busy_pct portero_pct pg_pct other_pct
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$prefix.txt")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$prefix.txt")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$prefix.txt")")
	reqs=$(awk '/requests in/ { print $1 }' "$prefix.txt")
	non2xx=$(awk '/Non-2xx/ { print $NF }' "$prefix.txt")
	errors=$(awk -F'[ ,]+' '/Socket errors/ { print $4 + $6 + $8 + $10 }' "$prefix.txt")
	peak=$(tail -n 1 "$prefix.peak_rss")
	read -r b0 t0 <<<"$m0"
	read -r b1 t1 <<<"$m1"
	busy_pct=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN { printf "%.0f", t ? 100 * n * b / t : 0 }')
	portero_pct=$(awk -v c=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v d=$((t1 - t0)) -v n="$(nproc)" \
		'BEGIN { printf "%.0f", d ? 100 * n * c / d : 0 }')
	pg_pct=$(awk -v c="$(postgres_delta "$pg0" "$pg1")" -v d=$((t1 - t0)) -v n="$(nproc)" 'BEGIN { printf "%.0f", d ? 100 * n * c / d : 0 }')
	cpu_us=$(awk -v c=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v r="$reqs" 'BEGIN { printf "%.0f", r ? c / hz / r * 1e6 : 0 }')
	wrk_pct=$(awk -v u="${wrk_cpu% *}" -v s="${wrk_cpu#* }" -v d="$DURATION" 'BEGIN {
		secs = d + 0; if (d ~ /m$/) secs *= 60; printf "%.0f", 100 * (u + s) / secs }')
	other_pct=$((busy_pct - portero_pct - wrk_pct - pg_pct))
	((other_pct >= 0)) || other_pct=0
	local tx_per_req
	tx_per_req=$(awk -v d=$((tx1 - tx0)) -v r="$reqs" 'BEGIN { printf "%.3f", r ? d / r : 0 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rps" "$p50" "$p99" \
		"${non2xx:-0}" "${errors:-0}" "$(mb "${peak:-0}")" "$cpu_us" "$portero_pct" "$pg_pct" "$wrk_pct" "$other_pct" "$busy_pct" "$tx_per_req" >>"$OUT/results.tsv"
	[[ ${non2xx:-0} == 0 ]] || log "WARNING: $name had $non2xx non-2xx responses"
}

# --- build and database ------------------------------------------------------

log "building $BIN and the bare baseline"
(cd "$ROOT" && go build -o "$BIN" ./cmd/portero && go build -o "$BARE_BIN" ./bench/bare)

# run_bare ROUND: the same-run baseline, a bare net/http server answering
# the token request's form (bench/bare); its req/s is BARE_RPS.
run_bare() {
	local pid url="http://127.0.0.1:$BARE_PORT"
	"$BARE_BIN" -addr "127.0.0.1:$BARE_PORT" >"$OUT/bare.log" 2>&1 &
	pid=$!
	until curl -fs -o /dev/null --max-time 1 "$url/health"; do
		kill -0 "$pid" 2>/dev/null || die "the bare server exited"
		sleep 0.1
	done
	log "$1 bare net/http: wrk -t$THREADS -c$CONNS -d$DURATION"
	if [[ $WARMUP != 0 ]]; then
		BENCH_BASIC=x wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$BENCH/token.lua" "$url/oauth2/token" >/dev/null
	fi
	BENCH_BASIC=x wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$BENCH/token.lua" "$url/oauth2/token" >"$OUT/wrk-$1-bare.txt"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	BARE_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/wrk-$1-bare.txt")
	printf '%s\t%s\n' "$1" "$BARE_RPS" >>"$OUT/bare.tsv"
}

if ((OWN_DB)); then
	log "creating database $BENCH_DB on $PGHOST:$PGPORT"
	psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" \
		-c "CREATE DATABASE $BENCH_DB"
	DB_CREATED=1
fi

# --- start-up and idle memory --------------------------------------------------

# First start: migrations and signing-key generation (a new database).
start_server first info
FIRST_READY_MS=$READY_MS
FIRST_LOG=$(ready_log_startup first)
stop_server
# Warm starts: the usual case (schema and keys exist); best of three.
WARM_READY_MS=999999
for i in 1 2 3; do
	start_server "warm$i" info
	((READY_MS < WARM_READY_MS)) && WARM_READY_MS=$READY_MS && WARM_LOG=$(ready_log_startup "warm$i")
	stop_server
done

start_server load "$LOG_LEVEL"
LOAD_READY_MS=$READY_MS
sleep 3
IDLE_RSS=$(proc_field "$SERVER_PID" VmRSS)
log "ready in ${WARM_READY_MS}ms (first start ${FIRST_READY_MS}ms), idle RSS $(mb "$IDLE_RSS") MB"

# --- clients ---------------------------------------------------------------------

create_client() { # ID [flags...]: prints base64(id:secret)
	local id=$1 json secret
	shift
	((OWN_DB)) || portero clients delete --id "$id" >/dev/null 2>&1 || true
	json=$(portero --json clients create --id "$id" --grant-types client_credentials --scopes "" \
		--roles vendor "$@")
	secret=$(sed -n 's/.*"client_secret": *"\([^"]*\)".*/\1/p' <<<"$json")
	[[ -n $secret ]] || die "no client_secret in: $json"
	printf '%s:%s' "$id" "$secret" | base64 -w0
}
JWT_BASIC=$(create_client bench-jwt --introspect)
OPAQUE_BASIC=$(create_client bench-opaque --token-format opaque)

# --- load ------------------------------------------------------------------------

: >"$OUT/results.tsv"
: >"$OUT/bare.tsv"
run_bare base
for s in $SCENARIOS; do run_scenario "$s" base; done

# explain_lookup LABEL: the plan and buffers of the grant look-up behind
# introspection, for a fresh JWT access token.
explain_lookup() {
	local token
	get_tokens "$JWT_BASIC" 1 "$OUT/explain-token.txt"
	token=$(<"$OUT/explain-token.txt")
	psql -X "$DB_URL" >"$OUT/explain-$1.txt" <<SQL
EXPLAIN (ANALYZE, BUFFERS)
SELECT request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data
FROM grants WHERE kind = 'access_token' AND signature = '${token##*.}';
SQL
}

SEED_NOTE=""
if ((SEED_ROWS > 0)); then
	explain_lookup base
	log "seeding $SEED_ROWS access-token rows into grants"
	t0=$(now_ns)
	# Rows shaped like real ones: a real grant's data, random-looking
	# signatures spread over the primary key, unexpired (never pruned here).
	psql -X -q "$DB_URL" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO grants (kind, signature, request_id, client_id, subject, active, rotated_at, requested_at, expires_at, data)
SELECT 'access_token', encode(sha256(('seed-' || i)::bytea), 'hex'), md5('request-' || i),
       'bench-seed', 'bench-seed', TRUE, NULL, now(), now() + interval '$TOKEN_LIFESPAN', d.data
FROM generate_series(1, $SEED_ROWS) AS i,
     (SELECT data FROM grants WHERE client_id = 'bench-jwt' LIMIT 1) AS d;
VACUUM ANALYZE grants;
-- Flush the seeding's WAL now, so that its checkpoint does not land in a
-- measured run.
CHECKPOINT;
SQL
	SEED_S=$(awk -v n=$(($(now_ns) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')
	ROWS=$(psql -X -At "$DB_URL" -c "SELECT count(*) FROM grants")
	SIZE=$(psql -X -At "$DB_URL" -c "SELECT pg_size_pretty(pg_table_size('grants')) || ' table, ' || pg_size_pretty(pg_indexes_size('grants')) || ' indexes'")
	SEED_NOTE="grants after seeding: $ROWS rows ($SIZE); seeding took ${SEED_S}s"
	log "$SEED_NOTE"
	explain_lookup seeded
	run_bare seeded
	for s in $SCENARIOS; do run_scenario "$s" seeded; done
fi

PEAK_HWM=$(proc_field "$SERVER_PID" VmHWM)
sleep 2
AFTER_RSS=$(proc_field "$SERVER_PID" VmRSS)
stop_server

# --- report ------------------------------------------------------------------------

{
	echo "### Portero load test, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
	echo "- $(go version | cut -d' ' -f3-), $(psql -X -At "$DB_URL" -c 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /'), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "- wrk -t$THREADS -c$CONNS -d$DURATION --latency (after a ${WARMUP} warm-up), client_secret_basic, log level $LOG_LEVEL, token pool $TOKEN_POOL"
	echo "- start-up to ready (launch to first 200 from /health/ready): ${WARM_READY_MS} ms warm (ready log: ${WARM_LOG:-n/a}), ${FIRST_READY_MS} ms on a new database (migrations + key generation; ready log: ${FIRST_LOG:-n/a})"
	echo "- RSS: idle $(mb "$IDLE_RSS") MB after start-up, peak (VmHWM) $(mb "$PEAK_HWM") MB, $(mb "$AFTER_RSS") MB idle after the load"
	[[ -z $SEED_NOTE ]] || echo "- $SEED_NOTE"
	echo
	echo "Bare net/http baseline (bench/bare, the same form, same wrk settings, same run): $(awk -F'\t' '{ printf "%s%s %.0f req/s", (NR > 1 ? ", " : ""), $1, $2 }' "$OUT/bare.tsv")."
	echo
	echo "| round | scenario | req/s | ratio to bare | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MB | Portero CPU µs/req | CPU % Portero | CPU % PostgreSQL | CPU % wrk | CPU % other | CPU % machine | DB transactions/req |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' 'NR == FNR { bare[$1] = $2; next }
		{ printf "| %s | %s | %.0f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, ($1 in bare && bare[$1] > 0 ? $3 / bare[$1] : 0), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 }' "$OUT/bare.tsv" "$OUT/results.tsv"
	echo
	echo "DB transactions/req: pg_stat_database's commits and rollbacks in Portero's database during the run, per request (the revocation set's poll adds one every 2 s)."
	echo "CPU % are of one core (200% = both cores busy on a 2-core machine). \"other\" is the rest of the machine's busy time: the kernel's loopback TCP work (softirq, charged to no process) and any other process; well above 10-15% means the run was disturbed."
} | tee "$OUT/results.md"
log "results in $OUT"
