-- admin_bans: the clients banned now, the latest ban first (every ban lasts
-- the same, so the latest to end is the latest made), and how many in all.
-- ARGV[A] how many to list.
-- Answers {reply, total, {client, ends_at ms, …}}.
local limit = tonumber(ARGV[A])
advance()
redis.call('ZREMRANGEBYSCORE', K.bans, '-inf', NOW)
local total = redis.call('ZCARD', K.bans)
local list = redis.call('ZREVRANGE', K.bans, 0, limit - 1, 'WITHSCORES')
return {reply('ok', 0), total, list}
