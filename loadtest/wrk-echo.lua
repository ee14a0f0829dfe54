-- wrk against the bundled example's echo-event API (POST /release/echo, pass-through: the echo
-- function returns the SCF event it received, so each response is the event as JSON).
--
--   target/release/scfgate --config examples/hello/scfgate.toml &
--   wrk -t1 -c16 -d10s -s loadtest/wrk-echo.lua http://127.0.0.1:8080
--
-- Every response must be a 200 whose body is the event carrying this request's JSON body and
-- method; failures are counted and printed at the end.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   bad_status = 0
   bad_body = 0
end

wrk.method = "POST"
wrk.path = "/release/echo?source=wrk"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"order":{"id":42,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]},"note":"load test"}'

function response(status, headers, body)
   if status ~= 200 then
      bad_status = bad_status + 1
   elseif not (string.find(body, '"httpMethod":"POST"', 1, true)
               and string.find(body, '\\"order\\":{\\"id\\":42', 1, true)) then
      bad_body = bad_body + 1
   end
end

function done(summary, latency, requests)
   local status_total, body_total = 0, 0
   for _, thread in ipairs(threads) do
      status_total = status_total + thread:get("bad_status")
      body_total = body_total + thread:get("bad_body")
   end
   io.write(string.format("echo-event: %d requests, p50 %.2f ms, p99 %.2f ms, non-200: %d, unexpected bodies: %d\n",
      summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000, status_total, body_total))
end
