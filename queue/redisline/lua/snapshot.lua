-- snapshot: the visible line, consistent at one version.
-- ARGV[A] how many waiting tickets to list.
-- Answers {version, length, counters, paused, perTicket,
--          serving{seq, until, …}, called{seq, deadline, …}, waiting{seq…}}
advance()
local limit = tonumber(ARGV[A])
local r = reply('ok', 0)
local nc = redis.call('ZCARD', K.called)
local paused = 0
if CFG.paused then paused = 1 end
return {
  r[2],
  redis.call('ZCARD', K.line),
  CFG.counters,
  paused,
  r[10],
  redis.call('ZRANGE', K.serving, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', K.called, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', K.line, nc, nc + limit - 1),
}
