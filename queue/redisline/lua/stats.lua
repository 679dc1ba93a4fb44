-- stats.lua — the running totals and the line now.
-- Reply      ok, with the totals issued, served, expired, left, bans,
--            wait_sum and wait_n (ms from take to call, and how many),
--            held_sum and held_n (ms a counter was held per ticket), and
--            the line now: length, serving, counters, paused (0/1)
advance()
local h = redis.call('HMGET', K.stats, 'issued', 'served', 'expired', 'left', 'bans',
  'wait_sum', 'wait_n', 'held_sum', 'held_n')
local paused = 0
if CFG.paused then paused = 1 end
return reply('ok', 0, {
  'issued', tonumber(h[1]) or 0, 'served', tonumber(h[2]) or 0,
  'expired', tonumber(h[3]) or 0, 'left', tonumber(h[4]) or 0,
  'bans', tonumber(h[5]) or 0,
  'wait_sum', tonumber(h[6]) or 0, 'wait_n', tonumber(h[7]) or 0,
  'held_sum', tonumber(h[8]) or 0, 'held_n', tonumber(h[9]) or 0,
  'length', redis.call('ZCARD', K.line),
  'serving', redis.call('ZCARD', K.serving),
  'counters', CFG.counters,
  'paused', paused,
})
