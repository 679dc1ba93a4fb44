-- status: a ticket's state and position, after bringing the line up to now.
-- ARGV[3] client key, ARGV[4] seq, ARGV[5] nonce.
local client, seq, nonce = ARGV[3], ARGV[4], ARGV[5]
advance()
local ban = banned(client)
if ban > 0 then return reply('banned', 0, ban) end
if not lookup(seq, nonce) then return reply('unknown', 0) end
return reply('ok', seq)
