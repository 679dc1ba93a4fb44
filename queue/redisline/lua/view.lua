-- view: is ticket seq's viewing session still open? (for its image URL)
-- ARGV[A] seq.
local seq = ARGV[A]
advance()
return reply('ok', seq)
