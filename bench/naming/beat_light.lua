-- Light beats (no body) on the preloaded instances, as the Nacos 1.4.x Java client sends them once
-- the server answered lightBeatEnabled:true:
--   PUT /nacos/v1/ns/instance/beat?namespaceId=public&serviceName=...&clusterName=DEFAULT&ip=...&port=...
-- Every request names an existing instance (a stride walk over all of them), so every answer is
-- {"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")

setup = c.setup
done = c.done

local requests = {}
local n = 0
function init(args)
  c.init_headers(nil)
  for k = 0, c.total - 1 do
    local s, i = c.pick(k)
    requests[k] = wrk.format("PUT", "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=" ..
        c.service_param(s) .. "&clusterName=DEFAULT&ip=" .. c.ip(s, i) .. "&port=" .. c.port)
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
