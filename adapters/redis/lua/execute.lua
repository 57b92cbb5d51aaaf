-- saga execute: barrier + guards + writes applied directly, once. Refused when the branch was
-- compensated or fenced first (anti-hanging) or a guard fails (recorded: the same answer again).
-- Layout as prepare (KEYS[2] unused, no ARGV[8]). Replies: 'done' | {'done', write errors...} |
-- {'refused', reason} | {'locked', holder, key} (a prepared 2PC branch holds a key; nothing
-- written but the index binding) | {'conflict', reason} | {'bound', binding} (as in prepare).
local barrier = KEYS[1]
local member, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local bound = bind_index(ARGV[5])
if bound then return {'bound', bound} end

local state = redis.call('HGET', barrier, 'state')
if state == 'executed' then return 'done' end
if state == 'refused' then return {'refused', redis.call('HGET', barrier, 'reason')} end
if state == 'fenced' then return {'refused', 'compensated before execute (fenced)'} end
if state == 'compensated' then return {'refused', 'already compensated'} end
if state then return {'conflict', 'branch is in 2PC state ' .. state} end

local holder, key = locked_by_other(member)
if holder then return {'locked', holder, key} end
local guards, writes = plan()
local why = check_guards(guards) or check_writes(writes)
if why then
  finish(barrier, 'refused', why, now, ttl, false)
  return {'refused', why}
end

local errors = apply_writes(writes)
redis.call('HSET', barrier, 'state', 'executed', 'at', now)
if #errors == 0 then return 'done' end
return {'done', unpack(errors)}
