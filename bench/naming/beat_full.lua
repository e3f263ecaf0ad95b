-- Full beats (form body beat=<BeatInfo JSON>) on the preloaded instances, as the Nacos 1.4.x Java
-- client sends its first beat (and every beat when lightBeatEnabled is off):
--   PUT /nacos/v1/ns/instance/beat?namespaceId=public&serviceName=...&clusterName=DEFAULT&ip=...&port=...
--   Content-Type: application/x-www-form-urlencoded
--   beat={"port":20880,"ip":"...","weight":1.0,"serviceName":"...","cluster":"DEFAULT",
--         "metadata":{...5 keys...},"scheduled":false,"period":5000,"stopped":false}
-- (body ~560 bytes percent-encoded). The instances exist, so there is no re-registration.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")

setup = c.setup
done = c.done

local requests = {}
local n = 0
function init(args)
  c.init_headers("application/x-www-form-urlencoded")
  for k = 0, c.total - 1 do
    local s, i = c.pick(k)
    local ip = c.ip(s, i)
    local beat = '{"port":' .. c.port .. ',"ip":"' .. ip .. '","weight":1.0,"serviceName":"' ..
        c.service_name(s) .. '","cluster":"DEFAULT","metadata":' .. c.metadata_json(s, i) ..
        ',"scheduled":false,"period":5000,"stopped":false}'
    requests[k] = wrk.format("PUT", "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=" ..
        c.service_param(s) .. "&clusterName=DEFAULT&ip=" .. ip .. "&port=" .. c.port, nil,
        "beat=" .. c.encode(beat))
  end
  n = ((id or 0) * 1000003) % c.total
  c.init_done()
end

function request()
  local r = requests[n]
  n = n + 1
  if n == c.total then n = 0 end
  return r
end
