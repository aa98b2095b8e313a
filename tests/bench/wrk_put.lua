-- wrk script: durable PUTs of new documents (a 100-byte string; VALUE_BYTES=N for another
-- size), keys sequential per wrk thread.
--   wrk -t2 -c64 -d4s -s tests/bench/wrk_put.lua --latency http://127.0.0.1:7001/
--   VALUE_BYTES=1000 wrk -t2 -c64 -d4s -s tests/bench/wrk_put.lua --latency http://127.0.0.1:7001/
-- `tid` is set per thread by setup() (a global of that thread's Lua state).
local counter = 0
local body = '{"payload":"' .. string.rep("x", tonumber(os.getenv("VALUE_BYTES") or "100")) .. '"}'
setup = function(thread) thread:set("tid", math.random(1, 1000000000)) end
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/collections/bench/docs/t" .. tid .. "-" .. counter,
                    {["Content-Type"] = "application/json"},
                    body)
end
