-- wrk against the bundled example's key-pair API (GET /release/signed/{name}, auth = "key_pair"),
-- every request signed the way Tencent documents: X-Date, Source and
--   Authorization: hmac id="<SecretId>", algorithm="hmac-sha1", headers="x-date source", signature="<base64>"
-- where the signature is base64(HMAC-SHA1(SecretKey, "x-date: <X-Date>\nsource: <Source>")).
--
--   target/release/scfgate --config examples/hello/scfgate.toml &
--   wrk -t1 -c16 -d10s -s loadtest/wrk-signed.lua http://127.0.0.1:8080
--   wrk -t2 -c64 -d60s -s loadtest/wrk-signed.lua http://127.0.0.1:8080 -- AKIDyours yoursecretkey
--
-- The key defaults to the example's demo pair (examples/hello/scfgate.toml). wrk's Lua has no HMAC,
-- so each thread signs with `openssl` (Debian's openssl package) when it starts and again every
-- 5 minutes: the gateway accepts an X-Date up to 900 s old, and signing per request would make wrk
-- the bottleneck (what the gateway's check costs is in `cargo bench --bench policy`). Every
-- response must be a 200 "Hello, <name>!\n"; a 401 means the signature was refused.

local names = { "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi" }
local threads = {}
local RESIGN_SECONDS = 300

function setup(thread)
   table.insert(threads, thread)
end

-- Only these characters reach the shell: the key comes from the command line.
local function shell_safe(text)
   if not string.match(text, "^[%w%-_%.]+$") then
      error("wrk-signed.lua: SecretId and SecretKey may hold letters, digits, '-', '_' and '.' only")
   end
   return text
end

local function sign()
   local date = os.date("!%a, %d %b %Y %H:%M:%S GMT")
   -- The string to sign is "x-date: <date>\nsource: <source>"; printf's format puts in the newline.
   local command = "printf 'x-date: %s\\nsource: %s' '" .. date .. "' '" .. source ..
      "' | openssl dgst -sha1 -hmac '" .. secret_key .. "' -binary | openssl base64 -A"
   local pipe = assert(io.popen(command, "r"))
   local signature = pipe:read("*a")
   pipe:close()
   if signature == nil or signature == "" then
      error("wrk-signed.lua: openssl gave no signature (is openssl installed?)")
   end
   headers = {
      ["X-Date"] = date,
      ["Source"] = source,
      ["Authorization"] = string.format('hmac id="%s", algorithm="hmac-sha1", headers="x-date source", signature="%s"',
         secret_id, signature),
   }
   signed_at = os.time()
end

function init(args)
   secret_id = shell_safe(args[1] or "AKIDexample")
   secret_key = shell_safe(args[2] or "example-secret-key-do-not-use")
   source = "wrk"
   counter = 0
   bad_status = 0
   bad_body = 0
   unauthorized = 0
   sign()
end

function request()
   if os.time() - signed_at >= RESIGN_SECONDS then
      sign()
   end
   counter = counter + 1
   local name = names[(counter % #names) + 1]
   return wrk.format("GET", "/release/signed/" .. name, headers)
end

function response(status, response_headers, body)
   if status == 401 then
      unauthorized = unauthorized + 1
   elseif status ~= 200 then
      bad_status = bad_status + 1
   elseif not string.match(body, "^Hello, %a+!\n$") then
      bad_body = bad_body + 1
   end
end

function done(summary, latency, requests)
   local status_total, unauthorized_total, body_total = 0, 0, 0
   for _, thread in ipairs(threads) do
      status_total = status_total + thread:get("bad_status")
      unauthorized_total = unauthorized_total + thread:get("unauthorized")
      body_total = body_total + thread:get("bad_body")
   end
   io.write(string.format("signed-hello: %d requests, p50 %.2f ms, p99 %.2f ms, 401: %d, other non-200: %d, unexpected bodies: %d\n",
      summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      unauthorized_total, status_total, body_total))
end
