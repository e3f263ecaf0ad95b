-- Shared by the wrk scripts in this directory (loaded with dofile from the script's own directory).
--
-- The data set, identical to what load.py registers:
--   services  s = 0 .. BENCH_SERVICES-1 (default 1000):
--             DEFAULT_GROUP@@providers:org.apache.dubbo.bench.DemoService%04d:1.0.0:
--   instances i = 0 .. BENCH_INSTANCES-1 (default 100) of each: ip 10.<s/10>.0.<i+1>, port 20880,
--             metadata = 5 Dubbo-provider keys (application, methods, release, side, timestamp).
--   list service: DEFAULT_GROUP@@providers:org.apache.dubbo.bench.ListService:1.0.0: with 10
--             instances 10.255.0.<1..10>:20880.
-- Every request carries the Java client's User-Agent and is percent-encoded as that client does.
--
-- wrk runs on one core, and against nginx it is the bottleneck: the scripts therefore build their
-- requests in init() (not timed by wrk) and request() only picks one, or, where every request is
-- new (register new), concatenates a few precomputed pieces.
local M = {}

M.services = tonumber(os.getenv("BENCH_SERVICES") or "1000")
M.instances = tonumber(os.getenv("BENCH_INSTANCES") or "100")
M.total = M.services * M.instances
M.port = 20880

local function encode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end
M.encode = encode

function M.service_name(s)
  return string.format("DEFAULT_GROUP@@providers:org.apache.dubbo.bench.DemoService%04d:1.0.0:", s)
end

-- Pre-encoded service names: the scripts build one request per call, so keep that cheap.
local encoded_services = {}
function M.service_param(s)
  local e = encoded_services[s]
  if e == nil then
    e = encode(M.service_name(s))
    encoded_services[s] = e
  end
  return e
end

function M.app(s) return string.format("bench-app-%03d", math.floor(s / 10)) end
function M.ip(s, i) return string.format("10.%d.0.%d", math.floor(s / 10), i + 1) end

function M.metadata_json(s, i)
  return string.format(
      '{"application":"%s","methods":"echo,sayHello,sayGoodbye,getUser","release":"3.2.0",' ..
      '"side":"provider","timestamp":"%d"}', M.app(s), 1700000000000 + s * 1000 + i)
end

-- The k-th instance of a stride walk over all instances: consecutive requests hit different services
-- in a scattered order (7919 is prime, so coprime with any total that is not a multiple of it).
function M.pick(k)
  local idx = (k * 7919) % M.total
  return math.floor(idx / M.instances), idx % M.instances
end

-- Gives each wrk thread its own id (with -t1 there is one) and keeps the threads for done().
local next_id = 0
local threads = {}
function M.setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

-- Called at the end of every script's init(): wrk's CPU time so far (process-wide), so that done()
-- can report the CPU the measured run itself took.
function M.init_done()
  init_cpu = os.clock()
end

function M.init_headers(content_type)
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.8"
  wrk.headers["Accept-Encoding"] = "gzip,deflate,sdch"
  if content_type then wrk.headers["Content-Type"] = content_type end
end

-- The header lines of wrk.headers plus the blank line: "METHOD PATH HTTP/1.1\r\n" .. this is a
-- complete request without a body, the same bytes wrk.format(METHOD, PATH) builds, for less CPU.
function M.header_block()
  local lines = {}
  for name, value in pairs(wrk.headers) do lines[#lines + 1] = name .. ": " .. value .. "\r\n" end
  return table.concat(lines) .. "\r\n"
end

-- One machine-readable line that run.sh parses, then the usual human-readable figures.
-- non2xx counts responses with status >= 400 (wrk's "status" errors).
function M.done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local start_cpu = 0
  for _, thread in ipairs(threads) do
    local cpu = thread:get("init_cpu")
    if cpu and cpu > start_cpu then start_cpu = cpu end
  end
  io.write(string.format(
      "RESULT requests=%d rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d " ..
      "connect_err=%d read_err=%d write_err=%d timeouts=%d duration_us=%d wrk_cpu_us=%d\n",
      summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout,
      summary.duration, (os.clock() - start_cpu) * 1e6))
end

return M
