/**
 * Calls to /api/v1 with the session's bearer token; a 401 ends the session.
 * @module api
 */

export const API = "/api/v1";

/** An HTTP error from the API, with the status and the server's detail. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} detail
   */
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/**
 * The error detail of a failed response, as text.
 * @param {Response} response
 * @returns {Promise<string>}
 */
async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail))
      return body.detail.map((/** @type {{msg: string}} */ e) => e.msg).join("; ");
  } catch {
    // not JSON: use the status text
  }
  return response.statusText || `HTTP ${response.status}`;
}

/**
 * @typedef {object} Client
 * @property {(path: string, params?: Record<string, string | number | string[] | null | undefined>) => Promise<any>} get
 * @property {(path: string, body?: unknown) => Promise<any>} post
 * @property {(path: string, body?: unknown) => Promise<any>} put
 * @property {(path: string) => Promise<Blob>} blob a binary answer (a camera picture)
 */

/**
 * A client that sends `token()` and calls `onUnauthorized` when the server refuses it.
 * @param {() => string | null} token
 * @param {() => void} onUnauthorized
 * @returns {Client}
 */
export function createClient(token, onUnauthorized) {
  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {boolean} [binary] answer a Blob instead of JSON
   * @returns {Promise<any>}
   */
  async function call(method, path, body, binary = false) {
    const current = token();
    if (!current) throw new ApiError(401, "Not signed in");
    /** @type {Record<string, string>} */
    const headers = {
      Authorization: `Bearer ${current}`,
      Accept: binary ? "image/jpeg, */*" : "application/json",
    };
    /** @type {RequestInit} */
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    if (response.status === 401) {
      onUnauthorized();
      throw new ApiError(401, await detailOf(response));
    }
    if (!response.ok) throw new ApiError(response.status, await detailOf(response));
    return binary ? response.blob() : response.json();
  }

  return {
    get(path, params = {}) {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(params)) {
        if (value === null || value === undefined || value === "") continue;
        for (const item of Array.isArray(value) ? value : [value]) query.append(name, String(item));
      }
      const suffix = query.size ? `?${query}` : "";
      return call("GET", path + suffix);
    },
    post(path, body) {
      return call("POST", path, body);
    },
    put(path, body) {
      return call("PUT", path, body);
    },
    blob(path) {
      return call("GET", path, undefined, true);
    },
  };
}
