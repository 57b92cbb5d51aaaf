-- commit: applies the staged writes, releases the locks, marks the barrier committed and drops
-- the branch from the prepared set. Idempotent. KEYS[1] barrier, KEYS[2] prepared zset,
-- KEYS[3] key list of the branch (read by the caller), KEYS[4..] its data keys and lock keys.
-- ARGV[1] member, ARGV[2] now (ms), ARGV[3] TTL (s) of the finished record.
-- Replies: {'ok', write errors...} | {'conflict', reason}.
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

local state = redis.call('HGET', barrier, 'state')
if state == 'committed' then return {'ok'} end
if state ~= 'prepared' then return {'conflict', 'branch is ' .. (state or 'not prepared')} end

local writes = cmsgpack.unpack(redis.call('HGET', barrier, 'writes'))
local locks = cmsgpack.unpack(redis.call('HGET', barrier, 'locks'))
local errors = apply_writes(writes)
release_locks(locks, member)
finish(barrier, 'committed', '', now, ttl)
redis.call('DEL', KEYS[3])
redis.call('ZREM', prepared, member)
return {'ok', unpack(errors)}
