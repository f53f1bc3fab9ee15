-- wrk script: GET /api/v1/prefixes/{prefix} rotating over every loaded
-- prefix (file in env API_TARGETS); API_RATE paces (see pace.lua).
local paths = {}
local i = 0
dofile("bench/apiwrk/pace.lua") -- delay(), setup(), done()

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
