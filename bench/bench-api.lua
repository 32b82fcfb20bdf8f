-- wrk script for bench/bench-api.sh: GET requests rotating over a list of
-- paths (one per line, already URL-encoded), with the bearer token.
--   BENCH_API_URLS=paths.txt BENCH_API_TOKEN=sgt_... wrk -s bench/bench-api.lua ...
-- Each wrk thread starts at a different offset so the threads do not ask
-- for the same path at the same time.  done() prints one machine-readable
-- line: "RESULT requests=N rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
-- non2xx=N errors=N".

local paths = {}
local token = os.getenv("BENCH_API_TOKEN") or ""
local file = os.getenv("BENCH_API_URLS") or "urls.txt"
for line in io.lines(file) do
  if #line > 0 then paths[#paths + 1] = line end
end
if #paths == 0 then error("bench-api.lua: no paths in " .. file) end

local headers = { ["Authorization"] = "Bearer " .. token }
local i = 0
local threads = 0

function setup(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end

function init(args)
  i = (first or 0) % #paths
end

function request()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i], headers)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    e.status, e.connect + e.read + e.write + e.timeout))
end
