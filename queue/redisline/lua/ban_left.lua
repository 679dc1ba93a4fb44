-- ban_left.lua — how long a client stays banned. It only reads (catch_up).
-- ARGV[A]    client  the client key
-- Reply      ok with ban (ms left; 0 = not banned)
local client = ARGV[A]
local known = catch_up()
return reply('ok', 0, {'ban', banned(client)}, known)
