-- stats: the running totals and the line now.
-- Answers {HGETALL stats…, then length, serving, called, counters, perTicket}
advance()
local r = reply('ok', 0)
return {
  redis.call('HGETALL', K.stats),
  redis.call('ZCARD', K.line),
  redis.call('ZCARD', K.serving),
  r[9],
  CFG.counters,
  r[10],
}
