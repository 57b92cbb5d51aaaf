-- txcoord Redis participant: helpers prepended to every script (see docs/adapters-redis.md);
-- prepare, execute and compensate also get checks.lua.
--
-- Every redis.call costs (argument and reply conversion; a write also its AOF record, a command
-- of the script's MULTI/EXEC), and so do script arguments, tables, closures and tonumber (which
-- goes through strtod): the scripts make as few as they can. Replies with nothing but their
-- kind are plain strings ('ok'), the others tables ({'conflict', reason}).

-- Applies writes; a failing one (changed behind our back) is reported, the rest still apply.
local function apply_writes(writes)
  local errors = {}
  for _, w in ipairs(writes) do
    local r = redis.pcall(unpack(w))
    if type(r) == 'table' and r.err then errors[#errors + 1] = w[1] .. ' ' .. w[2] .. ': ' .. r.err end
  end
  return errors
end

-- Releases the locks `member` holds of a prepared branch, given its barrier's `keys` field:
-- lock key = lockp .. key for each. A branch prepared by an earlier version of these scripts
-- has no `keys` but the lock keys themselves in `locks`, and a key list txc:{tag}:k:<...>
-- beside the barrier: both go too (same slot, not declared), read only then.
local function release_locks(barrier, keys, lockp, member)
  local names = {}
  if keys then
    for i, k in ipairs(cmsgpack.unpack(keys)) do names[i] = lockp .. k end
  else
    names = cmsgpack.unpack(redis.call('HGET', barrier, 'locks'))
    redis.call('HDEL', barrier, 'locks')
    redis.call('DEL', (string.gsub(barrier, '}:b:', '}:k:', 1)))
  end
  for _, l in ipairs(names) do
    if redis.call('GET', l) == member then redis.call('DEL', l) end
  end
end

-- Records a final state (`reason` '' is not written); `staged`: the barrier holds a prepared
-- branch's `writes` and `keys`, dropped here. Finished records expire after `ttl` seconds
-- (the decimal text; '0' = never).
local function finish(barrier, state, reason, now, ttl, staged)
  if reason == '' then
    redis.call('HSET', barrier, 'state', state, 'at', now)
  else
    redis.call('HSET', barrier, 'state', state, 'reason', reason, 'at', now)
  end
  if staged then redis.call('HDEL', barrier, 'writes', 'keys') end
  if ttl ~= '0' then redis.call('EXPIRE', barrier, ttl) end
end
