package store

import "github.com/redis/go-redis/v9"

// Lua scripts keep each multi-step change atomic. Every script touches
// only keys of one hash tag, so it runs unchanged on Redis Cluster.

// applyScript applies one update to one prefix.
// KEYS: routes hash, history list (same {p:...} tag).
// ARGV: field, op (A|W), peer epoch, time (ns), attrs, tags ("" = keep),
// history count, history age (ns), version token, prefix, notice channel.
// Every change of the hash sets \0v to the (unique) version token, which
// readers use to reuse decoded routes (routesIfChangedScript), and
// publishes the prefix on the notice channel (invalidate.go).
// Returns {changed, delta paths, paths now, tags changed, old tags, tags}.
// "Paths now" is returned for unchanged updates too: the caller re-issues
// its idempotent index writes, so a batch retried after a failure between
// round trips repairs the indexes.
//
// Path value: "<since ns> <epoch>\n<attrs>". History entry:
// "<seq> <time ns> <len field> <len old|-1> <len new|-1>\n<field><old><new>".
var applyScript = redis.NewScript(`
local r, h = KEYS[1], KEYS[2]
local f, op, epoch, t, attrs, tags = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local hcount, hage = tonumber(ARGV[7]), tonumber(ARGV[8])
local ver = ARGV[9]
local function notify() redis.call('PUBLISH', ARGV[11], ARGV[10]) end
local tchg, oldtags = 0, ''
local curtags = redis.call('HGET', r, '\0tags')
if not curtags then curtags = '' end
if tags ~= '' and tags ~= curtags then
  redis.call('HSET', r, '\0tags', tags, '\0v', ver)
  notify()
  tchg, oldtags, curtags = 1, curtags, tags
end
local function count() return tonumber(redis.call('HGET', r, '\0n') or '0') end
local cur = redis.call('HGET', r, f)
local old = false
if cur then
  local nl = string.find(cur, '\n', 1, true)
  local hdr = string.sub(cur, 1, nl - 1)
  old = string.sub(cur, nl + 1)
  if op == 'A' and old == attrs then
    local sp = string.find(hdr, ' ', 1, true)
    if string.sub(hdr, sp + 1) ~= epoch then
      redis.call('HSET', r, f, string.sub(hdr, 1, sp - 1) .. ' ' .. epoch .. '\n' .. attrs, '\0v', ver)
      notify()
    end
    return {0, 0, count(), tchg, oldtags, curtags}
  end
end
local delta = 0
local newv, newlen = '', -1
if op == 'A' then
  redis.call('HSET', r, f, t .. ' ' .. epoch .. '\n' .. attrs, '\0v', ver)
  notify()
  if not cur then delta = 1 end
  newv, newlen = attrs, #attrs
else
  if not cur then return {0, 0, count(), tchg, oldtags, curtags} end
  redis.call('HDEL', r, f)
  redis.call('HSET', r, '\0v', ver)
  notify()
  delta = -1
end
local n = redis.call('HINCRBY', r, '\0n', delta)
local seq = redis.call('HINCRBY', r, '\0seq', 1)
local oldv, oldlen = '', -1
if old then oldv, oldlen = old, #old end
local len = redis.call('LPUSH', h, seq .. ' ' .. t .. ' ' .. #f .. ' ' .. oldlen .. ' ' .. newlen .. '\n' .. f .. oldv .. newv)
local hz = false
local function etime(e) return string.match(e, '^%d+ (%-?%d+) ') end
local function bump(et)
  if not hz or tonumber(et) > tonumber(hz) then hz = et end
end
if len > hcount then
  for _, e in ipairs(redis.call('LRANGE', h, hcount, -1)) do bump(etime(e)) end
  redis.call('LTRIM', h, 0, hcount - 1)
end
local cut = tonumber(t) - hage
while true do
  local last = redis.call('LINDEX', h, -1)
  if not last then break end
  local et = etime(last)
  if tonumber(et) >= cut then break end
  redis.call('RPOP', h)
  bump(et)
end
if hz then
  local prev = redis.call('HGET', r, '\0hz')
  if not prev or tonumber(hz) > tonumber(prev) then redis.call('HSET', r, '\0hz', hz) end
end
return {1, delta, n, tchg, oldtags, curtags}
`)

// peerTouchScript records a batch's sightings of one peer.
// KEYS: peer hash, all-peers set. ARGV: vantage point id, asn ("0" =
// keep), source ("" = keep), last update (ns), addr.
var peerTouchScript = redis.NewScript(`
local p = KEYS[1]
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', p, 'addr', ARGV[5])
if ARGV[2] ~= '0' then redis.call('HSET', p, 'asn', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', p, 'src', ARGV[3]) end
local last = redis.call('HGET', p, 'last')
if not last or tonumber(ARGV[4]) > tonumber(last) then redis.call('HSET', p, 'last', ARGV[4]) end
return 1
`)

// routesIfChangedScript reads a routes hash unless the caller's copy is
// current. KEYS: routes hash. ARGV: the caller's version ("" = none).
// Returns {version} when unchanged, else the whole hash (HGETALL: an even
// number of elements, possibly none).
var routesIfChangedScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], '\0v')
if v and ARGV[1] ~= '' and v == ARGV[1] then return {v} end
return redis.call('HGETALL', KEYS[1])
`)

// groupChangesScript counts a batch's changes of one group per minute.
// KEYS: counts hash. ARGV: last change (ns), window minutes, then
// minute/count pairs.
var groupChangesScript = redis.NewScript(`
local c = KEYS[1]
local last = redis.call('HGET', c, 'last')
if not last or tonumber(ARGV[1]) > tonumber(last) then
  redis.call('HSET', c, 'last', ARGV[1])
  last = ARGV[1]
end
for i = 3, #ARGV, 2 do redis.call('HINCRBY', c, ARGV[i], ARGV[i + 1]) end
local lm = math.floor(tonumber(last) / 60e9)
for _, k in ipairs(redis.call('HKEYS', c)) do
  if k ~= 'last' and tonumber(k) <= lm - tonumber(ARGV[2]) then redis.call('HDEL', c, k) end
end
return 1
`)

// putEventScript inserts or replaces one event and its index entries.
// KEYS: data hash, index-membership hash, resolved index, version key.
// ARGV: id, json, member, resolved cap, version token, notice channel, then
// index keys. Evicts the oldest resolved events beyond the cap. Index keys
// share the {ev} tag. Sets the events' version token and publishes the
// "events" change notice (invalidate.go).
var putEventScript = redis.NewScript(`
local d, x, res = KEYS[1], KEYS[2], KEYS[3]
local id, js, mem, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
redis.call('SET', KEYS[4], ARGV[5])
redis.call('PUBLISH', ARGV[6], 'events')
local function unindex(eid)
  local prev = redis.call('HGET', x, eid)
  if prev then
    local nl = string.find(prev, '\n', 1, true)
    local pm = string.sub(prev, 1, nl - 1)
    for ix in string.gmatch(string.sub(prev, nl + 1), '[^\n]+') do redis.call('ZREM', ix, pm) end
  end
end
unindex(id)
local list = {}
for i = 7, #ARGV do
  redis.call('ZADD', ARGV[i], 0, mem)
  list[#list + 1] = ARGV[i]
end
redis.call('HSET', d, id, js)
redis.call('HSET', x, id, mem .. '\n' .. table.concat(list, '\n'))
local over = redis.call('ZCARD', res) - cap
if over > 0 then
  for _, m in ipairs(redis.call('ZRANGE', res, 0, over - 1)) do
    local eid = string.sub(m, 22)
    unindex(eid)
    redis.call('HDEL', d, eid)
    redis.call('HDEL', x, eid)
  end
end
return 1
`)

// enqueueScript adds a delivery unless it exists or already finished.
// KEYS: data hash, due zset, finished zset. ARGV: id, json, due (ms).
var enqueueScript = redis.NewScript(`
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// dueScript leases up to limit due deliveries.
// KEYS: data hash, due zset. ARGV: now (ms), lease until (ms), limit.
var dueScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local js = redis.call('HGET', KEYS[1], id)
  if js then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    out[#out + 1] = js
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
`)

// rescheduleScript replaces a delivery's record and due time if it exists.
// KEYS: data hash, due zset. ARGV: id, json, due (ms).
var rescheduleScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// finishScript removes a delivery and remembers its outcome.
// KEYS: data hash, due zset, finished zset, outcome hash.
// ARGV: id, outcome, at (ms), finished cap.
// Returns 1 finished, 2 already finished, 0 unknown.
var finishScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 2 end
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do redis.call('HDEL', KEYS[4], id) end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
end
return 1
`)

var allScripts = []*redis.Script{applyScript, routesIfChangedScript, peerTouchScript, groupChangesScript, putEventScript,
	enqueueScript, dueScript, rescheduleScript, finishScript}
