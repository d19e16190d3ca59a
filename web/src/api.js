// The REST client: bearer token, JSON in and out, RFC 9457 problems as ApiError, Idempotency-Key on writes.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    // The field the server names (problem.field, or the first of problem.errors[].field).
    this.field = this.problem.field || this.problem.errors?.[0]?.field || null;
  }
}

export class Api {
  constructor(token, { onUnauthorised } = {}) {
    this.token = token;
    this.onUnauthorised = onUnauthorised;
  }

  async request(method, path, { query, body, idempotent = false } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const doc = text ? JSON.parse(text) : null;
    if (!res.ok) {
      if (res.status === 401 && this.onUnauthorised) this.onUnauthorised();
      throw new ApiError(res.status, doc);
    }
    return doc;
  }

  get(path, query) { return this.request("GET", path, { query }); }
  post(path, body, { idempotent = true, query } = {}) { return this.request("POST", path, { body, idempotent, query }); }
  put(path, body) { return this.request("PUT", path, { body }); }

  // Every page of a cursor-paginated list: the page's array under `key`, then `next_cursor`.
  async all(path, query = {}, key = "items", limit = 1000) {
    const out = [];
    let cursor = null;
    do {
      const page = await this.get(path, { ...query, limit, cursor });
      out.push(...page[key]);
      cursor = page.next_cursor ?? null;
    } while (cursor);
    return out;
  }
}
