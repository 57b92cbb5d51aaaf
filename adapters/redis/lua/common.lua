-- txcoord Redis participant: helpers prepended to every script (see docs/adapters-redis.md).
--
-- Argument layout shared by prepare/execute/compensate (built by src/scripts.cc):
--   KEYS[1] barrier hash, KEYS[2] prepared zset, KEYS[3] key list of the branch,
--   KEYS[4..] data keys, then their lock keys (all in one hash slot, all declared).
--   ARGV[1] member (txc:<coordinator>:<gid>:<branch>)  ARGV[2] now, ms since the epoch
--   ARGV[3] TTL in seconds for finished records (0 = none)  ARGV[4] '1' = last attempt
--   ARGV[5] lock key prefix (txc:{tag}:l:)
--   ARGV[6] the tag, when the branch's index key is declared as the last KEY (standalone
--           servers: see bind_index), else ''
--   ARGV[7] guard count G, then G x (op, key, field, value)
--   then write count W, then W x (argc, command, key, args...)
-- Everything is validated before the first write: a Lua error does not undo earlier writes.

local function decode_plan(argv, at)
  local guards, writes = {}, {}
  local ng = tonumber(argv[at]); at = at + 1
  for _ = 1, ng do
    guards[#guards + 1] = {op = argv[at], key = argv[at + 1], field = argv[at + 2],
                           value = argv[at + 3]}
    at = at + 4
  end
  local nw = tonumber(argv[at]); at = at + 1
  for _ = 1, nw do
    local argc = tonumber(argv[at]); at = at + 1
    local w = {}
    for i = 1, argc do w[i] = argv[at + i - 1] end
    writes[#writes + 1] = w
    at = at + argc
  end
  return guards, writes
end

local function type_of(key)
  local t = redis.call('TYPE', key)
  if type(t) == 'table' then t = t.ok end
  return t
end

-- Canonical 64-bit integer text, as Redis writes it.
local function is_int(s)
  return type(s) == 'string' and #s <= 20 and
      (s == '0' or string.match(s, '^%-?[1-9]%d*$') ~= nil)
end

-- Compares two canonical integers as text: exact beyond 2^53, unlike Lua numbers.
local function cmp_int(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na and -1 or 1 end
  local da, db = na and a:sub(2) or a, nb and b:sub(2) or b
  local c = 0
  if #da ~= #db then
    c = (#da < #db) and -1 or 1
  elseif da ~= db then
    c = (da < db) and -1 or 1
  end
  if na then c = -c end
  return c
end

-- The value a guard reads: nil when absent, or false + reason when of the wrong type.
local function read_value(key, field)
  local t = type_of(key)
  if t == 'none' then return nil end
  if field == '' then
    if t ~= 'string' then return false, 'key ' .. key .. ' holds a ' .. t .. ', not a string' end
    return redis.call('GET', key)
  end
  if t ~= 'hash' then return false, 'key ' .. key .. ' holds a ' .. t .. ', not a hash' end
  local v = redis.call('HGET', key, field)
  if v == false then return nil end
  return v
end

-- nil when every guard holds, else the reason of the first that fails.
local function check_guards(guards)
  for _, g in ipairs(guards) do
    local where = g.key .. (g.field ~= '' and ('.' .. g.field) or '')
    local v, err = read_value(g.key, g.field)
    if v == false then return 'guard ' .. g.op .. ' on ' .. where .. ': ' .. err end
    if g.op == 'exists' then
      if v == nil then return 'guard failed: ' .. where .. ' does not exist' end
    elseif g.op == 'not_exists' then
      if v ~= nil then return 'guard failed: ' .. where .. ' exists' end
    elseif g.op == '==' then
      if v ~= g.value then return 'guard failed: ' .. where .. ' does not equal the value' end
    else
      local cur = v or '0'
      if not is_int(cur) then return 'guard failed: ' .. where .. ' is not an integer' end
      local c = cmp_int(cur, g.value)
      if g.op == '>=' and c < 0 then
        return 'guard failed: ' .. where .. ' = ' .. cur .. ' < ' .. g.value
      elseif g.op == '<=' and c > 0 then
        return 'guard failed: ' .. where .. ' = ' .. cur .. ' > ' .. g.value
      end
    end
  end
  return nil
end

local NEEDS_TYPE = {INCRBY = 'string', DECRBY = 'string', HINCRBY = 'hash', HSET = 'hash',
                    HDEL = 'hash', SADD = 'set', SREM = 'set'}

-- nil when every write can apply to the current data, else the reason it cannot.
local function check_writes(writes)
  for _, w in ipairs(writes) do
    local cmd, key = w[1], w[2]
    local need, t = NEEDS_TYPE[cmd], type_of(key)
    if need and t ~= 'none' and t ~= need then
      return cmd .. ' ' .. key .. ': key holds a ' .. t .. ', not a ' .. need
    end
    if (cmd == 'INCRBY' or cmd == 'DECRBY') and t == 'string' then
      if not is_int(redis.call('GET', key)) then
        return cmd .. ' ' .. key .. ': value is not an integer'
      end
    elseif cmd == 'HINCRBY' and t == 'hash' then
      local v = redis.call('HGET', key, w[3])
      if v ~= false and not is_int(v) then
        return cmd .. ' ' .. key .. ' ' .. w[3] .. ': value is not an integer'
      end
    end
  end
  return nil
end

-- Every key a plan reads or writes, each once, in first-seen order.
local function touched_keys(guards, writes)
  local seen, out = {}, {}
  local function add(k)
    if not seen[k] then seen[k] = true; out[#out + 1] = k end
  end
  for _, g in ipairs(guards) do add(g.key) end
  for _, w in ipairs(writes) do add(w[2]) end
  return out
end

-- The member holding a lock on one of `keys` other than `member`, or nil.
local function locked_by_other(keys, lockp, member)
  for _, k in ipairs(keys) do
    local holder = redis.call('GET', lockp .. k)
    if holder and holder ~= member then return holder, k end
  end
  return nil
end

-- Applies writes; a failing one (changed behind our back) is reported, the rest still apply.
local function apply_writes(writes)
  local errors = {}
  for _, w in ipairs(writes) do
    local r = redis.pcall(unpack(w))
    if type(r) == 'table' and r.err then errors[#errors + 1] = w[1] .. ' ' .. w[2] .. ': ' .. r.err end
  end
  return errors
end

local function release_locks(locks, member)
  for _, l in ipairs(locks) do
    if redis.call('GET', l) == member then redis.call('DEL', l) end
  end
end

-- Records a final state; finished records may expire after the TTL (0 = never).
local function finish(barrier, state, reason, now, ttl)
  redis.call('HSET', barrier, 'state', state, 'reason', reason, 'at', now)
  redis.call('HDEL', barrier, 'writes', 'locks')
  if ttl > 0 then redis.call('EXPIRE', barrier, ttl) end
end

-- The branch's index (txc:i:<coordinator>:<gid>:<branch>) on standalone servers, where one
-- script may touch keys of several hash slots: does inside the script what the participant's
-- `SET index tag NX GET` does before it on cluster servers. `tag` = ARGV[6]: '' when the index
-- is not declared (cluster servers: nothing to do), else the index is the last KEY. Returns
-- the binding that stops the call (the abort fence '!aborted', or another tag), or nil: then
-- the index is bound to `tag` (first binding wins, no TTL). It is the script's first write,
-- made whatever the script answers afterwards ("locked" included), as the SET NX would be.
local function bind_index(tag)
  if tag == '' then return nil end
  local index = KEYS[#KEYS]
  local bound = redis.call('GET', index)
  if bound == '!aborted' or (bound and bound ~= tag) then return bound end
  if not bound then redis.call('SET', index, tag) end
  return nil
end
