-- saga compensate: undoes an executed branch once with the compensation writes. If the action
-- never ran, writes a fence so a late execute is refused and succeeds without business effect.
-- Layout as prepare (KEYS[2] unused, no ARGV[8]). Replies: 'ok' (applied, a null compensation
-- or a duplicate) | {'ok', write errors...} | {'locked', holder, key} | {'failed', reason} (a
-- guard fails; nothing written) | {'conflict', reason} | {'bound', binding} (as in prepare).
local barrier = KEYS[1]
local member, now, ttl = ARGV[1], ARGV[2], ARGV[3]
local bound = bind_index(ARGV[5])
if bound then return {'bound', bound} end

local state = redis.call('HGET', barrier, 'state')
if state == 'fenced' or state == 'compensated' then return 'ok' end  -- a duplicate
if state == false then  -- null compensation
  finish(barrier, 'fenced', 'compensated before execute', now, ttl, false)
  return 'ok'
end
if state == 'refused' then
  finish(barrier, 'compensated', 'execute was refused: nothing to undo', now, ttl, false)
  return 'ok'
end
if state ~= 'executed' then return {'conflict', 'branch is in 2PC state ' .. state} end

local holder, key = locked_by_other(member)
if holder then return {'locked', holder, key} end
local guards, writes = plan()
local why = check_guards(guards) or check_writes(writes)
if why then return {'failed', why} end

local errors = apply_writes(writes)
finish(barrier, 'compensated', '', now, ttl, false)
if #errors == 0 then return 'ok' end
return {'ok', unpack(errors)}
