-- wrk script: GET /api/v1/events with rotating filters (20 events a page);
-- API_RATE paces (see pace.lua).
local paths = {
  "/api/v1/events?limit=20",
  "/api/v1/events?provider=aws&region=us-east-1&limit=20",
  "/api/v1/events?status=open&limit=20",
  "/api/v1/events?kind=path_shift&from=2025-07-24T14:00:00Z&to=2025-07-25T00:00:00Z&limit=20",
  "/api/v1/events?provider=aws&status=resolved&limit=20",
  "/api/v1/events?region=eu-west-1&kind=withdrawal&limit=20",
}
local i = 0
dofile("bench/apiwrk/pace.lua") -- delay(), setup(), done()

function init(args)
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
