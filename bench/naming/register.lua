-- Registrations, POST /nacos/v1/ns/instance with the Java client's parameters in the query string
-- (namespaceId, serviceName, groupName, clusterName, ip, port, weight, enable, healthy, ephemeral,
-- metadata JSON with 5 keys, app), no body. BENCH_REGISTER_MODE selects the instances:
--   pool (default): cycle over a pool of BENCH_REGISTER_POOL (10000) instances in 100 services
--         RegService000..099 that the preload does not contain: the first pass creates them, every
--         later request re-registers an existing instance (metadata replaced, beat reset).
--   new:  every request creates a new instance (ip 172.16.0.0/12 counting up, 100 services
--         NewService000..099): the store grows by one instance per request.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")

setup = c.setup
done = c.done

local mode = os.getenv("BENCH_REGISTER_MODE") or "pool"
local pool = tonumber(os.getenv("BENCH_REGISTER_POOL") or "10000")
local prefix = mode == "new" and "NewService" or "RegService"

local function ip_of(k)
  local j = math.floor(k / 100)
  return string.format("172.%d.%d.%d", 16 + math.floor(j / 65536) % 16, math.floor(j / 256) % 256,
      j % 256)
end

local function metadata(k)
  return c.encode(string.format(
      '{"application":"bench-reg-app","methods":"echo,sayHello,sayGoodbye,getUser",' ..
      '"release":"3.2.0","side":"provider","timestamp":"%d"}', 1700000000000 + k))
end

-- "POST /nacos/v1/ns/instance?...serviceName=<service k%100>...&ip=" and "&port=...".
local heads, tail = {}, nil
local requests = {}
local n = 0
function init(args)
  c.init_headers(nil)
  for s = 0, 99 do
    heads[s] = "POST /nacos/v1/ns/instance?namespaceId=public&serviceName=" ..
        c.encode(string.format("DEFAULT_GROUP@@providers:org.apache.dubbo.bench.%s%03d:1.0.0:",
            prefix, s)) .. "&groupName=DEFAULT_GROUP&clusterName=DEFAULT&ip="
  end
  local rest = "&port=20880&weight=1.0&enable=true&healthy=true&ephemeral=true&metadata="
  local block = " HTTP/1.1\r\n" .. c.header_block()
  if mode == "new" then
    -- One metadata text for all: building a distinct one per request would cost wrk more than
    -- the server spends on the request.
    tail = rest .. metadata(0) .. "&app=bench-reg-app" .. block
    rest = nil
  else
    for k = 0, pool - 1 do
      requests[k] = heads[k % 100] .. ip_of(k) .. rest .. metadata(k) .. "&app=bench-reg-app" .. block
    end
  end
  n = (id or 0) * 100000000
  c.init_done()
end

function request()
  local k = n
  n = n + 1
  if mode == "new" then return heads[k % 100] .. ip_of(k) .. tail end
  return requests[k % pool]
end
