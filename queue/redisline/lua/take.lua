-- take.lua — issue a ticket at the end of the line.
-- ARGV[A]    client  the caller's client key
-- ARGV[A+1]  nonce   the new token's nonce, hex. go-redis resends a command
--                    whose reply was lost, so a take is keyed by its nonce:
--                    a replay answers the ticket the first run issued.
-- Reply      ok with the ticket; banned (ban: ms left); paused;
--            too_many (limit: tickets a client may hold); full
local client, nonce = ARGV[A], ARGV[A + 1]
local known = catch_up() -- advances the line when something is due
local prev = redis.call('GET', take_key(nonce))
if prev then return reply('ok', prev) end
local ban = banned(client)
if ban > 0 then return reply('banned', 0, {'ban', ban}) end
if CFG.paused then return reply('paused', 0) end
if redis.call('SCARD', ckey(client)) >= CFG.max_client then
  return reply('too_many', 0, {'limit', CFG.max_client})
end
if redis.call('ZCARD', K.line) >= CFG.max_queue then
  return reply('full', 0, {'limit', CFG.max_queue})
end
local seq = redis.call('INCR', K.seq)
redis.call('HSET', tkey(seq), F.state, 'waiting', F.client, client, F.nonce, nonce, F.taken, NOW)
redis.call('ZADD', K.line, seq, seq)
redis.call('SADD', ckey(client), seq)
redis.call('SET', take_key(nonce), seq, 'PX', REPLAY_MS) -- go-redis retries within seconds
redis.call('HINCRBY', K.stats, 'issued', 1)
logged('t', seq)
dirty = true
-- With every counter busy, a take calls nobody: the line's facts read
-- before it (catch_up) still hold, and the answer reuses them.
if known and known.ns and CFG.counters - known.ns - known.nc <= 0 then
  known.unchanged = true
  return reply('ok', seq, nil, known)
end
call_next()
return reply('ok', seq)
