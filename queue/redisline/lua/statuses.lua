-- statuses: many tickets' states and positions in one step, as status would
-- answer each, after bringing the line up to now once (catch_up). The live
-- feed reads every watched ticket with it after each change.
-- ARGV[A…] triples: client key, seq, nonce (at most StatusBatch of them).
-- Answers reply('ok', 0) (version, next deadline, called count and the
-- per-ticket estimate, for all), followed by six fields per ticket:
-- {code, state, position, deadline, until, extra}, where code is 'ok',
-- 'banned' (extra = ms of ban left) or 'unknown'.
local known = catch_up()
local out = {}
local function emit(code, state, position, deadline, until_, extra)
  local n = #out
  out[n + 1], out[n + 2], out[n + 3] = code, state, position
  out[n + 4], out[n + 5], out[n + 6] = deadline, until_, extra
end
local bans = {} -- client → ms of ban left; a client may hold several tickets
for i = A, #ARGV, 3 do
  local client, seq, nonce = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ban = bans[client]
  if not ban then
    ban = banned(client)
    bans[client] = ban
  end
  if ban > 0 then
    emit('banned', '', 0, 0, 0, ban)
  else
    local h = redis.call('HMGET', tkey(seq), 's', 'n', 'dl', 'un')
    if not h[1] or h[2] ~= nonce then
      emit('unknown', '', 0, 0, 0, 0)
    else
      local position = 0
      if h[1] == 'waiting' or h[1] == 'called' then
        position = redis.call('ZRANK', K.line, seq) + 1
      end
      emit('ok', h[1], position, tonumber(h[3]) or 0, tonumber(h[4]) or 0, 0)
    end
  end
end
local r = reply('ok', 0, 0, known)
local base = #r
for i = 1, #out do r[base + i] = out[i] end
return r
