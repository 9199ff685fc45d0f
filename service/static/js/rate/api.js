// Talk to the server: JSON in and out, the CSRF header on every call, one error type.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && body.error) || `The server answered ${status}.`);
    this.status = status; // 0 means the request never got an answer
    this.errors = (body && body.errors) || [];
    this.retryAfter = retryAfter; // seconds, from a 503's Retry-After
  }

  // Nothing was saved, and the same request may be sent again later.
  get unavailable() {
    return [0, 502, 503, 504].includes(this.status);
  }
}

// gunicorn kills a worker after 30 s, so no answer can come later than that. A request
// still open then hangs on a dead connection; treating it as unreachable frees the
// screen, and the retry keeps its client id, so a judgment the server did store counts once.
const ANSWER_WITHIN_MS = 35000;

export async function call(method, url, body) {
  let response;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ANSWER_WITHIN_MS);
  try {
    response = await fetch(url, {
      method,
      signal: stop.signal,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, {
      error: "Could not reach the server. Your work is kept in this browser; try again.",
    });
  } finally {
    clearTimeout(timer);
  }
  const type = response.headers.get("Content-Type") || "";
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  if (!type.includes("application/json") && [502, 503, 504].includes(response.status)) {
    // A proxy in front of the service answered for it.
    throw new ApiError(response.status, null, retryAfter);
  }
  if (!type.includes("application/json")) {
    // A redirect to the sign-in page: the session ended.
    throw new ApiError(401, {
      error: "Your session has ended. Sign in again in another tab; your work is kept here.",
    });
  }
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data, retryAfter);
  return { status: response.status, data };
}
