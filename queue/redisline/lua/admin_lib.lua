-- admin_lib.lua follows lib.lua in every admin action (admin_*.lua but
-- admin_bans). An action first brings the line up to now, notes who is
-- called, acts, and answers reply()'s pairs plus what it did:
--   counters    service slots after the action
--   paused      0/1 after the action
--   called_now  the seqs the action called, in line order
-- so watchers see the change at once (reply bumps the version and
-- logs when anything changed) and the operator sees its effect.
--
-- go-redis resends a script whose reply was lost, and an admin action must
-- not act twice (a replayed skip would expire the next ticket too). Every
-- action carries an operation id made by its caller as its LAST argument;
-- its answer is kept under that id for REPLAY_MS, and a replay gets the
-- kept answer instead of acting again. The argument before it is the
-- operator's reason ('' for none), which the change log keeps with the
-- step (lib.lua's WHY) for the public record.
local called_before, OP_KEY

-- admin_begin, every action's first step, returns the kept answer of a
-- replay, or nil to go on. The kept answer tells the line's time now, not
-- when it was kept.
local function admin_begin()
  called_before, OP_KEY = {}, op_key(ARGV[#ARGV])
  WHY = ARGV[#ARGV - 1]
  local kept = redis.call('GET', OP_KEY)
  if kept then
    local r = cjson.decode(kept)
    for i = 1, #r - 1, 2 do
      if r[i] == 'now' then r[i + 1] = NOW end
    end
    return r
  end
  advance()
  for _, seq in ipairs(redis.call('ZRANGE', K.called, 0, -1)) do
    called_before[seq] = true
  end
end

local function admin_reply(code, seq, fields)
  -- Called tickets are the first members of the line, so in line order
  -- they are in seq order; their set is small (one a counter), the line is
  -- not.
  local fresh = {}
  for _, s in ipairs(redis.call('ZRANGE', K.called, 0, -1)) do
    if not called_before[s] then fresh[#fresh + 1] = s end
  end
  table.sort(fresh, function(a, b) return tonumber(a) < tonumber(b) end)
  local paused = 0
  if CFG.paused then paused = 1 end
  local more = {'counters', CFG.counters, 'paused', paused, 'called_now', fresh}
  if fields then
    for i = 1, #fields do more[6 + i] = fields[i] end
  end
  local r = reply(code, seq, more)
  -- Numbers are kept as digit strings: cjson, like tostring, writes a
  -- version (~1.8e15) in exponent form. The decoder reads both.
  local kept = {}
  for i, v in ipairs(r) do
    if type(v) == 'number' then kept[i] = string.format('%.0f', v) else kept[i] = v end
  end
  redis.call('SET', OP_KEY, cjson.encode(kept), 'PX', REPLAY_MS)
  return r
end
