-- prepare: barrier, locks, guards and write types checked; then staged writes + locks + the
-- prepared-set entry are stored. Replies: 'staged' (yes, and this call staged the branch) |
-- 'yes' (already prepared or committed) | {'no', reason} | {'locked', holder, key}
-- (not last attempt: nothing written but the index binding) | {'conflict', reason} |
-- {'bound', binding} (the declared index is '!aborted' or another tag: nothing written).
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl, last = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local bound = bind_index(ARGV[5])
if bound then return {'bound', bound} end

local state = redis.call('HGET', barrier, 'state')
if state == 'prepared' or state == 'committed' then return 'yes' end
if state == 'aborted' then return {'no', redis.call('HGET', barrier, 'reason') or 'aborted'} end
if state then return {'conflict', 'branch is in saga state ' .. state} end

local holder, key = locked_by_other(member)
if holder then
  if not last then return {'locked', holder, key} end
  local why = 'key ' .. key .. ' is locked by ' .. holder
  finish(barrier, 'aborted', why, now, ttl, false)
  return {'no', why}
end
local guards, writes = plan()
local why = check_guards(guards) or check_writes(writes)
if why then
  finish(barrier, 'aborted', why, now, ttl, false)
  return {'no', why}
end

-- Validated: from here on only writes. The barrier keeps the staged writes and the data keys
-- as they came (commit/abort release the locks of `keys`, and a participant without the
-- phase-2 cache reads `keys` to declare them).
for i = 1, n do redis.call('SET', KEYS[2 + n + i], member) end
redis.call('HSET', barrier, 'state', 'prepared', 'at', now, 'writes', ARGV[7], 'keys', ARGV[8])
redis.call('ZADD', prepared, now, member)
return 'staged'
