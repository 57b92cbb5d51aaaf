-- abort: drops the staged writes, releases the locks, marks the barrier aborted (also when the
-- branch was never prepared, so a late prepare votes no). Idempotent. Same KEYS/ARGV as commit
-- (an Abort racing a prepare that is staging the branch may have declared no data keys: the
-- locks released are those of the barrier's `keys`).
-- Replies: 'ok' | {'conflict', reason}.
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl, lockp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local b = redis.call('HMGET', barrier, 'state', 'keys')
local state = b[1]
if state == 'aborted' then return 'ok' end
if state == 'prepared' then
  release_locks(barrier, b[2], lockp, member)
  finish(barrier, 'aborted', 'aborted by the coordinator', now, ttl, true)
  redis.call('ZREM', prepared, member)
  return 'ok'
end
if state == false then
  finish(barrier, 'aborted', 'aborted before prepare', now, ttl, false)
  return 'ok'
end
return {'conflict', 'branch is ' .. state}
