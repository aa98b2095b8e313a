-- wrk script: reads of documents k1..k1000 in collection "bench" (write them first).
--   for i in $(seq 1 1000); do curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' \
--     -d "{\"v\":$i}" http://127.0.0.1:7001/v1/collections/bench/docs/k$i; done
--   wrk -t2 -c64 -d4s -s tests/bench/wrk_get.lua --latency http://127.0.0.1:7001/
request = function()
  return wrk.format("GET", "/v1/collections/bench/docs/k" .. math.random(1, 1000))
end
