-- saga compensate: undoes an executed branch once with the compensation writes. If the action
-- never ran, writes a fence so a late execute is refused and succeeds without business effect.
-- Layout as prepare (KEYS[2] unused). Replies: {'ok', 'applied'|'null'|'duplicate'} |
-- {'locked', holder, key} | {'failed', reason} (a guard fails; nothing written) | {'conflict', reason}
-- | {'bound', binding} (as in prepare).
local barrier = KEYS[1]
local member, now, ttl, lockp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[5]
local bound = bind_index(ARGV[6])
if bound then return {'bound', bound} end
local guards, writes = decode_plan(ARGV, 7)

local state = redis.call('HGET', barrier, 'state')
if state == 'fenced' or state == 'compensated' then return {'ok', 'duplicate'} end
if state == false then
  finish(barrier, 'fenced', 'compensated before execute', now, ttl)
  return {'ok', 'null'}
end
if state == 'refused' then
  finish(barrier, 'compensated', 'execute was refused: nothing to undo', now, ttl)
  return {'ok', 'null'}
end
if state ~= 'executed' then return {'conflict', 'branch is in 2PC state ' .. state} end

local holder, key = locked_by_other(touched_keys(guards, writes), lockp, member)
if holder then return {'locked', holder, key} end
local why = check_guards(guards) or check_writes(writes)
if why then return {'failed', why} end

local errors = apply_writes(writes)
finish(barrier, 'compensated', '', now, ttl)
return {'ok', 'applied', unpack(errors)}
