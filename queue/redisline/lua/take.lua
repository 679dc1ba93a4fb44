-- take: issue a ticket at the end of the line.
-- ARGV[A] client key, ARGV[A+1] the new token's nonce (hex).
-- go-redis resends a command whose reply was lost, so a take is keyed by its
-- nonce: a replay answers the ticket the first run issued.
local client, nonce = ARGV[A], ARGV[A + 1]
advance()
local idem = P .. 'take:' .. nonce
local prev = redis.call('GET', idem)
if prev then return reply('ok', prev) end
local ban = banned(client)
if ban > 0 then return reply('banned', 0, ban) end
if CFG.paused then return reply('paused', 0) end
if redis.call('SCARD', ckey(client)) >= CFG.max_client then
  return reply('too_many', 0)
end
if redis.call('ZCARD', K.line) >= CFG.max_queue then
  return reply('full', 0)
end
local seq = redis.call('INCR', K.seq)
redis.call('HSET', tkey(seq), 's', 'waiting', 'c', client, 'n', nonce, 'tk', NOW)
redis.call('ZADD', K.line, seq, seq)
redis.call('SADD', ckey(client), seq)
redis.call('SET', idem, seq, 'PX', 120000) -- go-redis retries within seconds
redis.call('HINCRBY', K.stats, 'issued', 1)
dirty = true
call_next()
return reply('ok', seq)
