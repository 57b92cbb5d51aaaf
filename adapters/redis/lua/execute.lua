-- saga execute: barrier + guards + writes applied directly, once. Refused when the branch was
-- compensated or fenced first (anti-hanging) or a guard fails (recorded: the same answer again).
-- Layout as prepare (KEYS[2] unused). Replies: {'done'} | {'refused', reason} |
-- {'locked', holder, key} (a prepared 2PC branch holds a key; nothing written but the index
-- binding) | {'conflict', reason} | {'bound', binding} (as in prepare).
local barrier = KEYS[1]
local member, now, ttl, lockp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[5]
local bound = bind_index(ARGV[6])
if bound then return {'bound', bound} end
local guards, writes = decode_plan(ARGV, 7)

local state = redis.call('HGET', barrier, 'state')
if state == 'executed' then return {'done'} end
if state == 'refused' then return {'refused', redis.call('HGET', barrier, 'reason')} end
if state == 'fenced' then return {'refused', 'compensated before execute (fenced)'} end
if state == 'compensated' then return {'refused', 'already compensated'} end
if state then return {'conflict', 'branch is in 2PC state ' .. state} end

local holder, key = locked_by_other(touched_keys(guards, writes), lockp, member)
if holder then return {'locked', holder, key} end
local why = check_guards(guards) or check_writes(writes)
if why then
  finish(barrier, 'refused', why, now, ttl)
  return {'refused', why}
end

local errors = apply_writes(writes)
redis.call('HSET', barrier, 'state', 'executed', 'at', now)
return {'done', unpack(errors)}
