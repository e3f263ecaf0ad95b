-- Instance list queries of one service with 10 instances (each with 5 metadata keys), with the
-- parameters the Nacos 1.4.x Java client sends for a one-shot query (udpPort=0: no push
-- subscription). The response is ~5.2 KB of JSON.
--   GET /nacos/v1/ns/instance/list?namespaceId=public&serviceName=...ListService...&clusters=
--       &udpPort=0&clientIP=127.0.0.1&healthyOnly=false&app=bench-consumer
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")

setup = c.setup
done = c.done

function init(args)
  c.init_headers(nil)
  wrk.method = "GET"
  wrk.path = "/nacos/v1/ns/instance/list?namespaceId=public&serviceName=" ..
      c.encode("DEFAULT_GROUP@@providers:org.apache.dubbo.bench.ListService:1.0.0:") ..
      "&clusters=&udpPort=0&clientIP=127.0.0.1&healthyOnly=false&app=bench-consumer"
  c.init_done()
end
-- No request(): wrk sends the static wrk.method/wrk.path request, the cheapest case for wrk.
