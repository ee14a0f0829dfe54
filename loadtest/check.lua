-- wrk script used by compare.sh: checks every response and prints one machine-readable line.
--
--   wrk -t1 -c64 -d5s -s loadtest/check.lua http://127.0.0.1:18082/release/hello -- EXPECTED_BODY_FILE
--
-- Each response's status must be 2xx and its body must equal the bytes in EXPECTED_BODY_FILE;
-- otherwise it is counted (per thread, summed in done()). The last line wrk prints is
--   RESULT requests=N duration_us=N p50_us=N p99_us=N connect=N read=N write=N timeout=N status=N non2xx=N mismatches=N

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("check.lua: pass the expected-body file after `--`")
   end
   local file = assert(io.open(path, "rb"))
   expected = file:read("*a")
   file:close()
   mismatches = 0
   non2xx = 0
   first_bad = nil
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
   if body ~= expected then
      mismatches = mismatches + 1
      if first_bad == nil then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
      end
   end
end

function done(summary, latency, requests)
   local mismatches_total, non2xx_total = 0, 0
   for _, thread in ipairs(threads) do
      mismatches_total = mismatches_total + (thread:get("mismatches") or 0)
      non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
      local bad = thread:get("first_bad")
      if bad ~= nil then
         io.write("FIRST_MISMATCH ", bad, "\n")
      end
   end
   local errors = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d timeout=%d status=%d non2xx=%d mismatches=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      errors.connect, errors.read, errors.write, errors.timeout, errors.status,
      non2xx_total, mismatches_total))
end
