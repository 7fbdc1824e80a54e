-- wrk script for scripts/soak: cycles through valid and hostile requests
-- and counts answers by class. 5xx must stay at zero.
local requests = {}
local threads = {}

local function b64(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local S = "service=registry.soak"
  local good = { ["Authorization"] = "Basic " .. b64("ci:soak-password") }
  local wrong = { ["Authorization"] = "Basic " .. b64("ci:wrong") }
  local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  local list = {
    wrk.format("GET", "/token?" .. S .. "&scope=repository:bench/app:pull"),
    wrk.format("GET", "/token?" .. S .. "&scope=repository:ci/app:pull,push", good),
    wrk.format("GET", "/token?" .. S .. "&scope=repository:ci/app:pull", wrong),
    wrk.format("GET", "/token?" .. S .. "&scope=repository:%00:pull"),
    wrk.format("GET", "/token?" .. S .. "&scope=repository:" .. string.rep("a", 300) .. ":pull"),
    wrk.format("GET", "/token?" .. S .. "&scope=" .. string.rep("repository:x:pull%20", 150)),
    wrk.format("GET", "/token?service=a&service=b"),
    wrk.format("GET", "/token?" .. S, { ["Authorization"] = "Basic !!!" }),
    wrk.format("GET", "/token?" .. S, { ["Authorization"] = "Bearer x" }),
    wrk.format("PUT", "/token"),
    wrk.format("GET", "/nope"),
    wrk.format("POST", "/token", form, "grant_type=refresh_token&service=registry.soak&client_id=c&refresh_token=rart_forged"),
    wrk.format("POST", "/token", form, "grant_type=password&service=registry.soak&client_id=c&username=ci&password=soak-password"),
    wrk.format("POST", "/token", { ["Content-Type"] = "text/plain" }, "x"),
    wrk.format("POST", "/token", form, string.rep("a", 70000)),
  }
  requests = list
  -- Every third request: a unique 8 KiB user name from a unique address
  -- (behind the trusted proxy 127.0.0.1), wrong password: what would grow
  -- the throttle's tables if they were not bounded. The name is a fixed
  -- prefix (a multiple of 3 bytes, so its base64 is reused) and a counter.
  long_prefix = b64(string.rep("n", 8190))
  counter = 0
  ok, client_errors, server_errors = 0, 0, 0
end

function request()
  counter = counter + 1
  if counter % 3 == 0 then
    local n = math.floor(counter / 3)
    local name = long_prefix .. b64(string.format("%09d:x", n))
    local from = string.format("10.%d.%d.%d",
      math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    return wrk.format("GET", "/token?service=registry.soak", {
      ["Authorization"] = "Basic " .. name,
      ["X-Forwarded-For"] = from,
    })
  end
  return requests[counter % #requests + 1]
end

function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  else
    ok = ok + 1
  end
end

function done(summary, latency, requests)
  local o, c, s = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    c = c + t:get("client_errors")
    s = s + t:get("server_errors")
  end
  io.write(string.format("SOAK ok=%d client_errors=%d server_errors=%d\n", o, c, s))
end
