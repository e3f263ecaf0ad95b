-- The cheapest request naming-server answers: GET /nacos/v1/console/health/liveness -> 200 "OK".
-- No store work at all, so its rate is the ceiling of the HTTP layer (naming-server/src/http_server.cc,
-- evhttp before it, plus NamingCore::Handle) on this machine.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local c = dofile(dir .. "common.lua")

setup = c.setup
done = c.done

function init(args)
  c.init_headers(nil)
  wrk.method = "GET"
  wrk.path = "/nacos/v1/console/health/liveness"
  c.init_done()
end
