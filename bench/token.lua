-- wrk script: client credentials grant with client_secret_basic.
--   BENCH_BASIC  base64 of "client_id:client_secret" (form-encoded parts)
-- The request is static, so wrk builds it once: no Lua runs per request.
local basic = os.getenv("BENCH_BASIC")
assert(basic and basic ~= "", "BENCH_BASIC is not set")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. basic
