-- wrk script: durable PUTs of a 100-byte string (VALUE_BYTES=N for another size) to keys
-- drawn at random from KEYS (default 300000) per wrk thread's seed: inserts at random
-- places in the key order at first, then more and more updates.
--   wrk -t2 -c64 -d5s -s tests/bench/wrk_put_random.lua --latency http://127.0.0.1:7001/
local body = '{"payload":"' .. string.rep("x", tonumber(os.getenv("VALUE_BYTES") or "100")) .. '"}'
local keys = tonumber(os.getenv("KEYS") or "300000")
setup = function(thread) thread:set("seed", math.random(1, 1000000000)) end
init = function() math.randomseed(seed) end
request = function()
  return wrk.format("PUT", "/v1/collections/bench/docs/u" .. math.random(1, keys),
                    {["Content-Type"] = "application/json"}, body)
end
