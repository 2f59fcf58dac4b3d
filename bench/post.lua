-- wrk script: POST the hook request in $WRK_BODY_FILE, and print the figures as one JSON line.
local file = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
      '"timeouts":%d,"latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, errors.status,
      errors.connect + errors.read + errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
