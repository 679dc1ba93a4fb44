-- status: a ticket's state and position, after bringing the line up to now.
-- ARGV[A] client key, ARGV[A+1] seq, ARGV[A+2] nonce.
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
advance()
local ban = banned(client)
if ban > 0 then return reply('banned', 0, ban) end
if not lookup(seq, nonce) then return reply('unknown', 0) end
return reply('ok', seq)
