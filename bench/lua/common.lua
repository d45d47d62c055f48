-- Shared by the kessai wrk scripts (bench/run.py sets the KB_* environment variables).
--
-- Every script counts, per wrk thread, the 2xx and non-2xx responses it saw and keeps the
-- first unexpected response; done() adds the threads up and prints one line
--   KBJSON {...}
-- that bench/run.py parses: throughput, latency percentiles (microseconds), errors.

local M = {}
local threads = {}

function M.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("environment variable " .. name .. " is not set") end
    return default
  end
  return value
end

function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function M.read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

-- Runs in wrk's main Lua state once per thread, before the thread starts.
function M.setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_no", #threads)
end

-- Per-thread counters: globals of each thread's Lua state, read back in done().
ok2xx = 0
non2xx = 0
completed = 0
first_error = ""

function M.count(status, body)
  if status >= 200 and status < 300 then
    ok2xx = ok2xx + 1
    return true
  end
  non2xx = non2xx + 1
  if first_error == "" then
    first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
  return false
end

local function quote(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function M.done(summary, latency, requests)
  local ok, bad, done_ok, first = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok = ok + (t:get("ok2xx") or 0)
    bad = bad + (t:get("non2xx") or 0)
    done_ok = done_ok + (t:get("completed") or 0)
    local fe = t:get("first_error") or ""
    if first == "" then first = fe end
  end
  local e = summary.errors
  local parts = {
    string.format('"duration_us":%d', summary.duration),
    string.format('"requests":%d', summary.requests),
    string.format('"bytes":%d', summary.bytes),
    string.format('"ok2xx":%d', ok),
    string.format('"non2xx":%d', bad),
    string.format('"completed":%d', done_ok),
    string.format('"err_connect":%d', e.connect),
    string.format('"err_read":%d', e.read),
    string.format('"err_write":%d', e.write),
    string.format('"err_status":%d', e.status),
    string.format('"err_timeout":%d', e.timeout),
    string.format('"lat_mean_us":%.1f', latency.mean),
    string.format('"lat_max_us":%d', latency.max),
    string.format('"lat_p50_us":%d', latency:percentile(50)),
    string.format('"lat_p90_us":%d', latency:percentile(90)),
    string.format('"lat_p99_us":%d', latency:percentile(99)),
    string.format('"lat_p999_us":%d', latency:percentile(99.9)),
    '"first_error":' .. quote(first),
  }
  io.write("KBJSON {" .. table.concat(parts, ",") .. "}\n")
end

return M
