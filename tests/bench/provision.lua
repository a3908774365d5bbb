-- wrk script for the provisioning benchmark (tests/bench/wrk.py runs it).
--
--   wrk -s provision.lua URL -- MODE FILE TAG
--
-- MODE  enrol        a new deviceId on every request (TAG-thread-counter), reprovision=false,
--                    a random user from FILE; expects update=true and an empty errmsg
--       reprovision  cycles through the (user, password, deviceId) lines of FILE, which were
--                    enrolled beforehand, reprovision=true; expects update=false, empty errmsg
--       ceiling      like enrol, against the trivial endpoint; expects status 200 only
-- FILE  tab-separated lines: login, password[, deviceId]
-- Every answer is checked: "ok" counts the expected ones, "bad" the others (with one sample),
-- so a benchmark of fast failures cannot pass for a fast gateway. done() prints one JSON line.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local mode, lines, tag, counter, cursor
ok, bad, bad_sample = 0, 0, ""

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  mode, tag = args[1], args[3]
  lines = {}
  for line in io.lines(args[2]) do
    local login, password, device = line:match("^([^\t]+)\t([^\t]+)\t?([^\t]*)$")
    if login then table.insert(lines, {urlencode(login), urlencode(password), urlencode(device)}) end
  end
  counter = 0
  cursor = math.floor((id - 1) * #lines / 2)  -- threads start apart in the reprovision cycle
  math.randomseed(os.time() + id * 7919)
end

function request()
  counter = counter + 1
  local user, device, reprovision
  if mode == "reprovision" then
    cursor = cursor % #lines + 1
    user, device, reprovision = lines[cursor], lines[cursor][3], "true"
  else
    user, device, reprovision = lines[math.random(#lines)], tag .. "-" .. id .. "-" .. counter, "false"
  end
  return wrk.format("GET", "/provisioning?username=" .. user[1] .. "&password=" .. user[2] ..
    "&reprovision=" .. reprovision .. "&deviceId=" .. device)
end

function response(status, headers, body)
  local good = status == 200
  if good and mode ~= "ceiling" then
    local update = mode == "enrol" and "true" or "false"
    good = body:find('"errmsg":%s*""') ~= nil and body:find('"update":%s*' .. update) ~= nil
  end
  if good then
    ok = ok + 1
  else
    bad = bad + 1
    if bad_sample == "" then bad_sample = status .. " " .. (body or ""):sub(1, 300) end
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local total_ok, total_bad, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
    if sample == "" then sample = thread:get("bad_sample") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, "bad_sample": %s, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, total_ok, total_bad, json_string(sample),
    e.connect + e.read + e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
