-- wrk_report.lua - count responses per HTTP status and write one JSON
-- summary (requests, per-status counts, socket errors, latency
-- percentiles) to the file named by $WRK_JSON when wrk ends (also when it
-- is stopped early with SIGINT, which is how the e2e driver stops it).
--
-- response() runs in each thread's Lua state; done() runs in the main
-- state and collects the threads' tables with thread:get().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   counts = {}
end

function response(status, headers, body)
   counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
   local agg = {}
   for _, t in ipairs(threads) do
      local c = t:get("counts")
      for k, v in pairs(c or {}) do
         agg[k] = (agg[k] or 0) + v
      end
   end
   local parts = {}
   for k, v in pairs(agg) do
      table.insert(parts, string.format('"%d": %d', k, v))
   end
   local e = summary.errors
   local json = string.format(
      '{"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"status": {%s}, "errors": {"connect": %d, "read": %d, ' ..
      '"write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, ' ..
      '"p999": %d, "max": %d}}\n',
      summary.duration, summary.requests, summary.bytes,
      table.concat(parts, ", "), e.connect, e.read, e.write, e.status,
      e.timeout, latency.mean, latency:percentile(50),
      latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max)
   local path = os.getenv("WRK_JSON")
   if path then
      local f = assert(io.open(path, "w"))
      f:write(json)
      f:close()
   else
      io.write(json)
   end
end
