// The API with the tab's token: kept in sessionStorage (this tab only, gone when it closes),
// never in localStorage and never in a URL.
const TOKEN_KEY = "prophoto.token";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export function authHeaders() { return { Authorization: "Bearer " + session.token }; }

export async function api(path, options = {}) {
  const headers = Object.assign(authHeaders(), options.headers || {});
  return fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
}

export async function json(path, options = {}) {
  const response = await api(path, options);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// An answer that is not OK as { message, technical, retryable }: words for people first,
// the server's own title and detail kept for the hover and the console.
export async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  const technical = body ? [body.title, body.detail].filter(Boolean).join(": ")
    : `${response.status} ${response.statusText}`;
  return { status: response.status, message: plainWords(response.status, body), technical,
           retryable: canRetry(response.status) };
}

// a refusal of the request or of the file will be refused again; the rest may pass later
export function canRetry(status) {
  return !status || status >= 500 || [408, 409, 423, 429].includes(status);
}

function plainWords(status, body) {
  const title = (body && body.title) || "";
  if (status === 401) return "Your sign-in is no longer valid: sign in again.";
  if (status === 413) return "This file is larger than the server accepts.";
  if (status === 415 || /unsupported/i.test(title)) return "This file is not a photo we can take.";
  if (/empty upload/i.test(title)) return "This file is empty.";
  if (/checksum/i.test(title)) return "The file changed while it was sent: send it again.";
  if (status === 429 && body && body.quota) return quotaWords(body);
  if (status === 429) return title && title !== "Too many requests" ? title : "Too many requests: try again shortly.";
  if (status >= 500) return "The server had a problem; trying again may work.";
  return title || "The server refused this.";
}

// A per-user quota's refusal (429 naming the quota; docs/operations.md lists them) in words:
// which allowance is used up and what helps.
export function quotaWords(body) {
  const wait = span(body.retry_after || 60);
  if (body.quota === "uploads per minute") {
    return `You sent more photos this minute than your account allows (${body.limit}): the rest follow in ${wait}.`;
  }
  if (body.quota === "bytes per day") {
    return `You have sent today's allowance (${(body.limit / 2 ** 30).toFixed(1)} GB): try again in ${wait}.`;
  }
  if (body.quota === "unconfirmed proxies") {
    const photos = `${body.limit} unconfirmed photo${body.limit === 1 ? "" : "s"}`;
    return `You have ${photos}, the most your account allows: confirm or delete some, then try again.`;
  }
  return `Your account's limit on ${body.quota} is reached: try again in ${wait}.`;
}

// a quota the page waits out by itself (it refills within about a minute)
export function waitsOut(body) {
  return Boolean(body && body.quota === "uploads per minute");
}

function span(seconds) {
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

// every page of a paged listing (cursor pagination)
export async function allPages(path, params = {}) {
  const out = [];
  let cursor = null;
  for (;;) {
    const query = new URLSearchParams(Object.assign({}, params, cursor ? { cursor } : {}));
    const page = await json(`${path}?${query}`);
    out.push(...page.items);
    if (page.next_cursor === null || page.next_cursor === undefined) return out;
    cursor = page.next_cursor;
  }
}

// an image behind the token, as an object URL (img src cannot carry a header)
export async function blobUrl(path) {
  const response = await api(path);
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}
