-- wrk script: RFC 7662 introspection with client_secret_basic, cycling
-- through a pool of valid tokens (one per line), each thread from its own
-- offset, so that look-ups are spread over many rows rather than one.
--   BENCH_BASIC   base64 of "client_id:client_secret" of the caller
--   BENCH_TOKENS  file with the tokens to introspect
local basic = os.getenv("BENCH_BASIC")
local file = os.getenv("BENCH_TOKENS")
assert(basic and basic ~= "", "BENCH_BASIC is not set")
assert(file and file ~= "", "BENCH_TOKENS is not set")

local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = "Basic " .. basic,
}

local tokens = {}
for line in io.lines(file) do
  if line ~= "" then
    tokens[#tokens + 1] = line
  end
end
assert(#tokens > 0, "no tokens in " .. file)

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

-- Requests are formatted once per thread in init (wrk.host, which
-- wrk.format puts in the Host header, is not known before); request() only
-- picks the next.
local requests = {}
local i = 0
function init(args)
  for n, token in ipairs(tokens) do
    requests[n] = wrk.format("POST", nil, headers, "token=" .. token)
  end
  i = ((thread_index or 0) * 9973) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end
