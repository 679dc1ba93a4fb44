-- status.lua — a ticket's state and position. It only reads: the line is
-- advanced first only if something is due (catch_up).
-- ARGV[A]    client  the caller's client key
-- ARGV[A+1]  seq     the token's ticket
-- ARGV[A+2]  nonce   the token's nonce, hex
-- Reply      ok with the ticket; banned (ban); unknown
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local known = catch_up()
local ban = banned(client)
if ban > 0 then return reply('banned', 0, {'ban', ban}, known) end
local h = redis.call('HMGET', tkey(seq), F.state, F.nonce, F.deadline, F.ends)
if not h[1] or h[2] ~= nonce then return reply('unknown', 0, nil, known) end
return reply('ok', seq, nil, known, h)
