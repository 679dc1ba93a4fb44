-- end.lua — the holder ends viewing early; the counter frees and the next
-- ticket is called. Ending a session that already ended is not an error
-- (DELETE is idempotent, and a retried request must not fail).
-- ARGV[A]    client  the caller's client key
-- ARGV[A+1]  seq     the token's ticket
-- ARGV[A+2]  nonce   the token's nonce, hex
-- Reply      ok with the ticket; not_serving with the ticket (in line);
--            gone with the ticket (expired or left); banned (ban); unknown
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local state, early = holder(client, seq, nonce)
if not state then return early end
if state == 'serving' then
  end_session(seq)
  call_next()
  return reply('ok', seq)
end
if state == 'served' then return reply('ok', seq) end
if state == 'waiting' or state == 'called' then return reply('not_serving', seq) end
return reply('gone', seq)
