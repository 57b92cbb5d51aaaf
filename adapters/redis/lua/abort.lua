-- abort: drops the staged writes, releases the locks, marks the barrier aborted (also when the
-- branch was never prepared, so a late prepare votes no). Idempotent. Same KEYS/ARGV as commit.
-- Replies: {'ok'} | {'conflict', reason}.
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

local state = redis.call('HGET', barrier, 'state')
if state == 'aborted' then return {'ok'} end
if state == 'prepared' then
  release_locks(cmsgpack.unpack(redis.call('HGET', barrier, 'locks')), member)
  finish(barrier, 'aborted', 'aborted by the coordinator', now, ttl)
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', prepared, member)
  return {'ok'}
end
if state == false then
  finish(barrier, 'aborted', 'aborted before prepare', now, ttl)
  return {'ok'}
end
return {'conflict', 'branch is ' .. state}
