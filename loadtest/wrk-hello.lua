-- wrk against the bundled example's say-hello API (GET /release/hello/{name}, integrated response).
--
--   target/release/scfgate --config examples/hello/scfgate.toml &
--   wrk -t1 -c16 -d10s -s loadtest/wrk-hello.lua http://127.0.0.1:8080
--
-- Each request asks for one of a few names; every response must be a 200 whose body is
-- "Hello, <one of them>!\n" (the release stage's greeting). Failures are counted and printed at
-- the end; the example's functions run as local processes (2 instances each), so expect far
-- fewer requests per second than compare.sh's fixed-reply backend.

local names = { "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi" }
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   counter = 0
   bad_status = 0
   bad_body = 0
end

function request()
   counter = counter + 1
   local name = names[(counter % #names) + 1]
   return wrk.format("GET", "/release/hello/" .. name)
end

function response(status, headers, body)
   if status ~= 200 then
      bad_status = bad_status + 1
   elseif not string.match(body, "^Hello, %a+!\n$") then
      bad_body = bad_body + 1
   end
end

function done(summary, latency, requests)
   local status_total, body_total = 0, 0
   for _, thread in ipairs(threads) do
      status_total = status_total + thread:get("bad_status")
      body_total = body_total + thread:get("bad_body")
   end
   io.write(string.format("say-hello: %d requests, p50 %.2f ms, p99 %.2f ms, non-200: %d, unexpected bodies: %d\n",
      summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000, status_total, body_total))
end
