-- wrk script for the benchmark's closed loop: POST /orders with a valid order, the users and
-- items varied as order-load varies them; prints one JSON object with the fields bench/run.sh
-- reads (the same as order-load's): accepted, accepted_per_s, p50/p95/p99/max_ms,
-- not_accepted (answers of 400 and above; order-api answers a valid order 202 or 503) and
-- errors (connections that failed or timed out). Latency is per request, closed loop.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local items = { "Burger", "Pizza", "Salad", "Taco", "Sushi" }
local number = 0

request = function()
  number = number + 1
  local body = string.format('{"user_id":"bench-%d","item":"%s","quantity":1}', number % 1000, items[number % #items + 1])
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  local accepted = summary.requests - summary.errors.status
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"accepted": %d, "accepted_per_s": %.1f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "not_accepted": {"other": %d}, "errors": %d}\n',
    accepted, accepted / seconds, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status, errors))
end
