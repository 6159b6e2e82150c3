-- One operation of bench/ops.py under wrk: `wrk ... -s ops.lua URL -- METHOD PATH BODY
-- TENANTS PREFIX AUTH`. {tenant} becomes a random seeded tenant, {n} a value unique in the
-- run; AUTH is "Bearer ..." (an Authorization header) or "sessionid=..." (a Cookie).
-- done() prints one JSON line: requests, duration, latency percentiles, non-2xx, errors.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args)
  method, path, body, tenants, prefix, auth = args[1], args[2], args[3], tonumber(args[4]), args[5], args[6]
  non2xx, first_bad, bytes, counter = 0, 0, 0, 0
  math.randomseed(os.time() * 1000 + id)
  hdrs = {}
  if string.sub(auth, 1, 7) == "Bearer " then
    hdrs["Authorization"] = auth
  elseif auth ~= "" then
    hdrs["Cookie"] = auth
  end
  if body ~= "" then
    hdrs["Content-Type"] = "application/json"
  end
end

local function fill(template, tenant, n)
  local out = string.gsub(template, "{tenant}", tenant)
  out = string.gsub(out, "{n}", n)
  return out
end

function request()
  counter = counter + 1
  local tenant = string.format("t%06d", math.random(1, tenants))
  local n = prefix .. "-" .. id .. "-" .. counter
  local payload = nil
  if body ~= "" then
    payload = fill(body, tenant, n)
  end
  return wrk.format(method, fill(path, tenant, n), hdrs, payload)
end

function response(status, headers, content)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
  if content then
    bytes = #content
  end
end

function done(summary, latency, requests)
  local bad, first, size = 0, 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    if first == 0 then
      first = thread:get("first_bad")
    end
    size = math.max(size, thread:get("bytes"))
  end
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "non2xx": %d, "first_non2xx_status": %d, "bytes": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), bad, first, size, e.connect, e.read, e.write, e.timeout))
end
