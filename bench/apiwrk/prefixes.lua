-- wrk script: GET /api/v1/prefixes/{prefix} rotating over every loaded
-- prefix (file in env API_TARGETS). API_DELAY_MS paces each connection
-- (wrk has no fixed-rate mode): rate ~= connections * 1000 / (delay + latency).
local paths = {}
local i = 0
local delay_ms = tonumber(os.getenv("API_DELAY_MS") or "0")

function init(args)
  for line in io.lines(os.getenv("API_TARGETS")) do
    paths[#paths + 1] = "/api/v1/prefixes/" .. line
  end
  -- Threads start at different offsets so they do not ask in lockstep.
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function delay()
  return delay_ms
end
