// Calls to the catqms HTTP API. Every call resolves (never throws) to
// {ok, status, data, retryAfter}: status 0 means the server was unreachable.

/** Performs `method path` with an optional bearer token and JSON body. */
export async function call(method, path, { token = null, body = undefined } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: {}, retryAfter: 0 };
  }
  let data = {};
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = {};
    }
  }
  if (!data || typeof data !== 'object') data = {};
  return { ok: res.ok, status: res.status, data, retryAfter: retryAfterSeconds(res.headers.get('Retry-After')) };
}

/** Retry-After in whole seconds (0 when absent); accepts the HTTP-date form too. */
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) return 0;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : 0;
}

export const getLine = () => call('GET', '/api/v1/queue');
export const takeTicket = () => call('GET', '/api/v1/token');
export const getTicket = (token) => call('GET', '/api/v1/ticket', { token });
export const redeem = (token) => call('POST', '/api/v1/kitty', { body: { token } });
export const endViewing = (token) => call('DELETE', '/api/v1/kitty', { token });
export const leaveLine = (token) => call('DELETE', '/api/v1/ticket', { token });
