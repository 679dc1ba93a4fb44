-- admin_lib.lua follows lib.lua in every admin script (admin_*.lua). An
-- admin action first brings the line up to now, notes who is called, acts,
-- and answers with reply()'s shape plus what the action did:
--   {reply, counters, paused (0/1), {seqs the action called, in line order}}
-- so watchers see the change at once (reply bumps the version and
-- publishes when anything changed) and the operator sees its effect.
local called_before = {}

local function admin_begin()
  advance()
  for _, seq in ipairs(redis.call('ZRANGE', K.called, 0, -1)) do
    called_before[seq] = true
  end
end

local function admin_reply(code, seq, extra)
  local r = reply(code, seq, extra)
  -- Called tickets are the first ZCARD(called) members of the line.
  local nc = redis.call('ZCARD', K.called)
  local fresh = {}
  if nc > 0 then
    for _, s in ipairs(redis.call('ZRANGE', K.line, 0, nc - 1)) do
      if not called_before[s] then fresh[#fresh + 1] = s end
    end
  end
  local paused = 0
  if CFG.paused then paused = 1 end
  return {r, CFG.counters, paused, fresh}
end
