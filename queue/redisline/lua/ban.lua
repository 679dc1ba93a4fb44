-- ban.lua — a client presented a token this service never issued. Ban it
-- for ban ms; its waiting and called tickets leave the line. A client
-- already banned keeps its ban as it is (answer banned, not forbidden).
-- ARGV[A]    client  the caller's client key
-- Reply      forbidden (ban: the new ban's length, ms); banned (ban: ms left)
local client = ARGV[A]
advance()
local ban = banned(client)
if ban > 0 then return reply('banned', 0, {'ban', ban}) end
redis.call('SET', bkey(client), NOW + CFG.ban, 'PX', CFG.ban)
banned_until(NOW + CFG.ban)
-- The admin API lists bans from this set; lapsed ones are pruned here and
-- when it is read, so it never outgrows the bans in force.
redis.call('ZREMRANGEBYSCORE', K.bans, '-inf', NOW)
redis.call('ZADD', K.bans, NOW + CFG.ban, client)
redis.call('HINCRBY', K.stats, 'bans', 1)
logged('Y')
-- In ticket order: each removal of a called ticket updates the moving
-- average of held counters, so the order matters, and a set has none.
local mine = redis.call('SMEMBERS', ckey(client))
table.sort(mine, function(a, b) return tonumber(a) < tonumber(b) end)
for _, seq in ipairs(mine) do
  local state = redis.call('HGET', tkey(seq), F.state)
  if state == 'waiting' or state == 'called' then
    remove_from_line(seq, state)
    finish(seq, 'left', state == 'called' and 'B' or 'b')
  end
end
call_next()
dirty = true
return reply('forbidden', 0, {'ban', CFG.ban})
