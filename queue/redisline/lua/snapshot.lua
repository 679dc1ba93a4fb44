-- snapshot: the visible line, consistent at one version.
-- ARGV[A] how many waiting tickets to list.
-- Answers {version, length, counters, paused, perTicket,
--          serving{seq, until, …}, called{seq, deadline, …}, waiting{seq…}}
-- It only reads: the line is advanced first only if something is due.
local known = catch_up()
local limit = tonumber(ARGV[A])
local r = reply('ok', 0, 0, known)
local nc = r[9]
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
