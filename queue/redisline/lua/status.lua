-- status: a ticket's state and position, after bringing the line up to now.
-- ARGV[A] client key, ARGV[A+1] seq, ARGV[A+2] nonce.
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local state, early = holder(client, seq, nonce)
if not state then return early end
return reply('ok', seq)
