-- txcoord Redis participant: the checks of prepare, execute and compensate.
--
-- Argument layout (built by src/participant.cc, RunPlanScript):
--   KEYS[1] barrier hash, KEYS[2] prepared zset, KEYS[3..2+n] the n data keys the plan touches
--   (guards and writes, each once), KEYS[3+n..2+2n] their lock keys in the same order (all in
--   one hash slot, all declared), then the branch's index when ARGV[5] is not ''.
--   ARGV[1] member (txc:<coordinator>:<gid>:<branch>)  ARGV[2] now, ms since the epoch
--   ARGV[3] TTL in seconds for finished records ('0' = none)  ARGV[4] '1' = last attempt
--   ARGV[5] the tag, when the branch's index key is declared as the last KEY (standalone
--           servers: see bind_index), else ''
--   ARGV[6] the guards: '' or a msgpack array of {op, key, field, value}
--   ARGV[7] the writes: a msgpack array of {command, key, args...}
--   ARGV[8] (prepare only) the data keys, a msgpack array: stored as the barrier's `keys`
-- Everything is validated before the first write: a Lua error does not undo earlier writes.

local n = (#KEYS - (ARGV[5] == '' and 2 or 3)) / 2

local function plan()
  local guards = ARGV[6] == '' and {} or cmsgpack.unpack(ARGV[6])
  return guards, cmsgpack.unpack(ARGV[7])
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

-- Reads for the checks, each key (or hash field) read once per script run: a guard and a write
-- on the same key share the read. Only valid before the first write.
local strings, fields = {}, {}

-- One read through cache[id]: the value, nil when absent, or false + the key's type when it
-- holds another type (the read answered WRONGTYPE).
local function cached_read(cache, id, key, ...)
  local v = cache[id]
  if v == nil then
    v = redis.pcall(...)  -- one call: absent → false, another type → an error table
    if type(v) == 'table' then v = {type_of(key)} end
    cache[id] = v
  end
  if v == false then return nil end
  if type(v) == 'table' then return false, v[1] end
  return v
end

-- The string value of `key`, or a field of the hash `key` (field ~= ''), as cached_read.
local function read_value(key, field)
  if field == '' then return cached_read(strings, key, key, 'GET', key) end
  local f = fields[key]
  if not f then f = {}; fields[key] = f end
  return cached_read(f, field, key, 'HGET', key, field)
end

-- nil when every guard holds, else the reason of the first that fails.
local function check_guards(guards)
  for _, g in ipairs(guards) do
    local op, key, field, value = g[1], g[2], g[3], g[4]
    local where = key .. (field ~= '' and ('.' .. field) or '')
    local v, t = read_value(key, field)
    if v == false then
      return 'guard ' .. op .. ' on ' .. where .. ': key ' .. key .. ' holds a ' .. t ..
                 ', not a ' .. (field == '' and 'string' or 'hash')
    end
    if op == 'exists' then
      if v == nil then return 'guard failed: ' .. where .. ' does not exist' end
    elseif op == 'not_exists' then
      if v ~= nil then return 'guard failed: ' .. where .. ' exists' end
    elseif op == '==' then
      if v ~= value then return 'guard failed: ' .. where .. ' does not equal the value' end
    else
      local cur = v or '0'
      if not is_int(cur) then return 'guard failed: ' .. where .. ' is not an integer' end
      local c = cmp_int(cur, value)
      if op == '>=' and c < 0 then
        return 'guard failed: ' .. where .. ' = ' .. cur .. ' < ' .. value
      elseif op == '<=' and c > 0 then
        return 'guard failed: ' .. where .. ' = ' .. cur .. ' > ' .. value
      end
    end
  end
  return nil
end

-- nil when every write can apply to the current data, else the reason it cannot. SET, DEL and
-- EXPIRE apply to any key.
local function check_writes(writes)
  for _, w in ipairs(writes) do
    local cmd, key = w[1], w[2]
    if cmd == 'INCRBY' or cmd == 'DECRBY' or cmd == 'HINCRBY' then
      local field = cmd == 'HINCRBY' and w[3] or ''
      local v, t = read_value(key, field)
      if v == false then
        return cmd .. ' ' .. key .. ': key holds a ' .. t .. ', not a ' ..
                   (field == '' and 'string' or 'hash')
      end
      if v ~= nil and not is_int(v) then
        return cmd .. ' ' .. key .. (field ~= '' and (' ' .. field) or '') ..
                   ': value is not an integer'
      end
    elseif cmd ~= 'SET' and cmd ~= 'DEL' and cmd ~= 'EXPIRE' then
      local need = (cmd == 'HSET' or cmd == 'HDEL') and 'hash' or 'set'
      local t = type_of(key)
      if t ~= 'none' and t ~= need then
        return cmd .. ' ' .. key .. ': key holds a ' .. t .. ', not a ' .. need
      end
    end
  end
  return nil
end

-- The member holding a lock on one of the data keys other than `member` (and that key), or nil.
local function locked_by_other(member)
  for i = 1, n do
    local holder = redis.call('GET', KEYS[2 + n + i])
    if holder and holder ~= member then return holder, KEYS[2 + i] end
  end
  return nil
end

-- The branch's index (txc:i:<coordinator>:<gid>:<branch>) on standalone servers, where one
-- script may touch keys of several hash slots: does inside the script what the participant's
-- `SET index tag NX GET` does before it on cluster servers — the same command. `tag` = ARGV[5]:
-- '' when the index is not declared (cluster servers: nothing to do), else the index is the
-- last KEY. Returns the binding that stops the call (the abort fence '!aborted', or another
-- tag), or nil: then the index is bound to `tag` (first binding wins, no TTL). It is the
-- script's first write, made whatever the script answers afterwards ("locked" included), as
-- the SET NX before the script would be.
local function bind_index(tag)
  if tag == '' then return nil end
  local bound = redis.call('SET', KEYS[#KEYS], tag, 'NX', 'GET')
  if bound == '!aborted' or (bound and bound ~= tag) then return bound end
  return nil
end
