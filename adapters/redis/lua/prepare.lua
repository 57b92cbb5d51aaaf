-- prepare: barrier, locks, guards and write types checked; then staged writes + locks + the
-- prepared-set entry are stored. Replies: {'yes', 'staged'} (this call staged the branch) |
-- {'yes'} (already prepared or committed) | {'no', reason} | {'locked', holder, key}
-- (not last attempt: nothing written but the index binding) | {'conflict', reason} |
-- {'bound', binding} (the declared index is '!aborted' or another tag: nothing written).
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl, last, lockp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1', ARGV[5]
local bound = bind_index(ARGV[6])
if bound then return {'bound', bound} end
local guards, writes = decode_plan(ARGV, 7)

local state = redis.call('HGET', barrier, 'state')
if state == 'prepared' or state == 'committed' then return {'yes'} end
if state == 'aborted' then return {'no', redis.call('HGET', barrier, 'reason') or 'aborted'} end
if state then return {'conflict', 'branch is in saga state ' .. state} end

local keys = touched_keys(guards, writes)
local holder, key = locked_by_other(keys, lockp, member)
if holder then
  if not last then return {'locked', holder, key} end
  local why = 'key ' .. key .. ' is locked by ' .. holder
  finish(barrier, 'aborted', why, now, ttl)
  return {'no', why}
end
local why = check_guards(guards) or check_writes(writes)
if why then
  finish(barrier, 'aborted', why, now, ttl)
  return {'no', why}
end

-- Validated: from here on only writes.
local locks = {}
for i, k in ipairs(keys) do
  locks[i] = lockp .. k
  redis.call('SET', locks[i], member)
end
redis.call('HSET', barrier, 'state', 'prepared', 'at', now, 'writes', cmsgpack.pack(writes),
           'locks', cmsgpack.pack(locks))
redis.call('RPUSH', KEYS[3], unpack(keys))
redis.call('ZADD', prepared, now, member)
return {'yes', 'staged'}
