-- status: a ticket's state and position. It only reads: the line is
-- advanced first only if something is due (catch_up).
-- ARGV[A] client key, ARGV[A+1] seq, ARGV[A+2] nonce.
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local known = catch_up()
local ban = banned(client)
if ban > 0 then return reply('banned', 0, ban, known) end
local h = redis.call('HMGET', tkey(seq), 's', 'n', 'dl', 'un')
if not h[1] or h[2] ~= nonce then return reply('unknown', 0, 0, known) end
return reply('ok', seq, 0, known, {h[1], h[3], h[4]})
