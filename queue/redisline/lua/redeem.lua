-- redeem.lua — a called ticket starts its viewing session on the counter
-- its call reserved; a serving one answers its session again (a safe retry).
-- ARGV[A]    client  the caller's client key
-- ARGV[A+1]  seq     the token's ticket
-- ARGV[A+2]  nonce   the token's nonce, hex
-- Reply      ok with the ticket (serving); not_your_turn with the ticket
--            (waiting); gone with the ticket (finished); banned (ban);
--            unknown (no such ticket with that nonce)
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local state, early = holder(client, seq, nonce)
if not state then return early end
if state == 'called' then
  redis.call('ZREM', K.called, seq)
  redis.call('ZREM', K.line, seq)
  redis.call('ZADD', K.serving, NOW + CFG.view, seq)
  redis.call('HSET', tkey(seq), F.state, 'serving', F.redeemed, NOW, F.ends, NOW + CFG.view)
  logged('r', seq, NOW + CFG.view)
  dirty = true
  return reply('ok', seq)
end
if state == 'serving' then return reply('ok', seq) end
if state == 'waiting' then return reply('not_your_turn', seq) end
return reply('gone', seq)
