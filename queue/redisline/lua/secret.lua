-- secret.lua — the line's token key, made once, so every replica signs and
-- checks tokens alike when none is configured.
-- ARGV[A]    fresh  a new random key, hex, kept only if none is kept yet
-- Reply      ok, with secret (hex)
redis.call('SET', K.secret, ARGV[A], 'NX')
return {'code', 'ok', 'secret', redis.call('GET', K.secret)}
