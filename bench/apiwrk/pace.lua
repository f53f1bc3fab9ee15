-- Fixed-rate pacing for wrk (Debian packages wrk, not wrk2): every thread
-- hands out send slots at API_RATE / API_THREADS per second, one slot per
-- call of delay(), so requests leave evenly spaced in time instead of in
-- bursts of all connections at once. wrk's delay() has 1 ms resolution,
-- so a thread releases the requests of one millisecond together.
--
-- When no connection is free at a slot's time (the server is behind), the
-- slot is counted as late and the schedule restarts from now rather than
-- catching up with a burst: the achieved rate drops below API_RATE and the
-- summary prints the late count. wrk measures latency from the actual send,
-- so read the late count next to the percentiles (with 0 late slots the
-- actual send is the scheduled one, within the 1 ms resolution).
--
-- API_RATE = 0 disables pacing (closed loop, as fast as the connections go).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } rw_timespec;
int clock_gettime(int clk, rw_timespec *ts);
]]
local ts = ffi.new("rw_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("API_RATE") or "0")
local threads = tonumber(os.getenv("API_THREADS") or "2")
local interval = rate > 0 and 1000 * threads / rate or 0
local next_slot = nil
late = 0 -- global: read by done() through thread:get

-- Without a rate there is no delay() at all: wrk then runs closed loop.
if interval > 0 then
function delay()
  local t = now_ms()
  if next_slot == nil then
    next_slot = t + math.random() * interval
  elseif next_slot < t - 1 then
    late = late + 1
    next_slot = t
  end
  local d = next_slot - t
  next_slot = next_slot + interval
  return d > 0 and d or 0
end
end

local all_threads = {}
function setup(thread)
  table.insert(all_threads, thread)
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(all_threads) do
    n = n + (t:get("late") or 0)
  end
  io.write(string.format("Pacing: %s req/s offered, %d late slots\n",
    rate > 0 and tostring(rate) or "unpaced", n))
end
