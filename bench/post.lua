-- wrk script used by bench/run.sh: POSTs one fixed JSON body and prints a one-line,
-- machine-readable summary (key=value) when the run ends.
--
-- Environment (read once per wrk thread):
--   BENCH_BODY  the request body (required)
--   BENCH_AUTH  value of the Authorization header (optional, e.g. "Bearer abc")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

-- summary.duration is in microseconds, latency percentiles are in microseconds.
-- errors.status counts responses with a status above 399 (wrk's definition of a non-2xx
-- error; the service never answers 3xx); the other error kinds are socket errors.
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
