-- commit: applies the staged writes, releases the locks, marks the barrier committed and drops
-- the branch from the prepared set. Idempotent. KEYS[1] barrier, KEYS[2] prepared zset,
-- KEYS[3..] the branch's data keys, then their lock keys (from the phase-2 cache, or read from
-- the barrier's `keys` by the caller: declared only; the locks released are those of the
-- barrier's own `keys`, which a prepare may have staged after the caller read them).
-- ARGV[1] member, ARGV[2] now (ms), ARGV[3] TTL (s) of the finished record ('0' = none),
-- ARGV[4] lock key prefix. Replies: 'ok' | {'ok', write errors...} | {'conflict', reason}.
local barrier, prepared = KEYS[1], KEYS[2]
local member, now, ttl, lockp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local b = redis.call('HMGET', barrier, 'state', 'writes', 'keys')
local state = b[1]
if state == 'committed' then return 'ok' end
if state ~= 'prepared' then return {'conflict', 'branch is ' .. (state or 'not prepared')} end

local errors = apply_writes(cmsgpack.unpack(b[2]))
release_locks(barrier, b[3], lockp, member)
finish(barrier, 'committed', '', now, ttl, true)
redis.call('ZREM', prepared, member)
if #errors == 0 then return 'ok' end
return {'ok', unpack(errors)}
