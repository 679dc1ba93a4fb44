-- snapshot.lua — the visible line, consistent at one version. It only
-- reads: the line is advanced first only if something is due (catch_up).
-- ARGV[A]    limit  how many waiting tickets to list
-- Reply      ok, with length (called + waiting), counters, paused (0/1),
--            serving {seq, until, …}, calls {seq, deadline, …} and
--            waiting {seq, …} (the first limit waiting tickets, in order)
local known = catch_up()
local limit = tonumber(ARGV[A])
local nc = redis.call('ZCARD', K.called)
local paused = 0
if CFG.paused then paused = 1 end
return reply('ok', 0, {
  'length', redis.call('ZCARD', K.line),
  'counters', CFG.counters,
  'paused', paused,
  'serving', redis.call('ZRANGE', K.serving, 0, -1, 'WITHSCORES'),
  'calls', redis.call('ZRANGE', K.called, 0, -1, 'WITHSCORES'),
  'waiting', redis.call('ZRANGE', K.line, nc, nc + limit - 1),
}, known)
