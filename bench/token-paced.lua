-- wrk script: client credentials grant, paced: each connection waits
-- BENCH_DELAY_MS between requests (wrk's delay hook), so that
-- -c N sends at most N * 1000 / BENCH_DELAY_MS requests a second.
--   BENCH_BASIC     base64 of "client_id:client_secret"
--   BENCH_DELAY_MS  pause before each request, in ms
local basic = os.getenv("BENCH_BASIC")
assert(basic and basic ~= "", "BENCH_BASIC is not set")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
assert(pause and pause > 0, "BENCH_DELAY_MS is not set")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. basic

function delay()
	return pause
end
