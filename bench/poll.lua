-- wrk script: every request is a random line of the file given after `--`:
--   <path> TAB <bearer token or -> TAB <If-None-Match value or ->
-- Requests are formatted once, in init, so the generator spends its time sending.
local requests = {}
local n = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, token, etag = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if path then
      local headers = {}
      if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
      if etag ~= "-" then headers["If-None-Match"] = etag end
      n = n + 1
      requests[n] = wrk.format("GET", path, headers)
    end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return requests[math.random(n)]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\": %d, \"duration_us\": %d, \"connect_errors\": %d, " ..
    "\"read_errors\": %d, \"write_errors\": %d, \"status_errors\": %d, \"timeouts\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
