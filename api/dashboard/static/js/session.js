/**
 * Sign-in, the token (sessionStorage only: it dies with the tab), and renewal before expiry.
 * @module session
 */

import { API, ApiError } from "./api.js";

const STORAGE_KEY = "sekisho.session";
const MIN_REFRESH_MS = 5_000;

/** @typedef {{token: string, expiresAt: number, lifetimeMs: number}} Token */

/**
 * The token kept for this tab, if it has not expired.
 * @returns {Token | null}
 */
export function loadToken() {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const saved = JSON.parse(raw);
    if (typeof saved.token !== "string" || typeof saved.expiresAt !== "number") return null;
    if (saved.expiresAt <= Date.now()) return null;
    return { token: saved.token, expiresAt: saved.expiresAt, lifetimeMs: saved.lifetimeMs };
  } catch {
    return null;
  }
}

/**
 * Keep the token for this tab (never in localStorage, which outlives the session).
 * @param {Token} token
 */
export function saveToken(token) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(token));
}

/** Forget the token. */
export function clearToken() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * A Token from the API's token response.
 * @param {{access_token: string, expires_in: number}} body
 * @returns {Token}
 */
function tokenFrom(body) {
  const lifetimeMs = body.expires_in * 1000;
  return { token: body.access_token, expiresAt: Date.now() + lifetimeMs, lifetimeMs };
}

/**
 * Exchange a user name and password for a token (OAuth2 password flow).
 * @param {string} username
 * @param {string} password
 * @returns {Promise<Token>}
 */
export async function signIn(username, password) {
  const response = await fetch(`${API}/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
    cache: "no-store",
  });
  if (!response.ok) throw new ApiError(response.status, response.statusText);
  return tokenFrom(await response.json());
}

/**
 * Renew the token before it expires, for as long as the session lasts.
 * @param {() => Token | null} current
 * @param {(token: Token) => void} renewed
 * @param {() => void} failed called when the server refuses to renew (401/403)
 * @returns {() => void} stop
 */
export function keepFresh(current, renewed, failed) {
  /** @type {number | undefined} */
  let timer;
  let stopped = false;

  function schedule() {
    const token = current();
    if (stopped || !token) return;
    // Renew at 80% of the lifetime, and at least a minute early for long-lived tokens.
    const early = Math.max(token.lifetimeMs * 0.2, Math.min(60_000, token.lifetimeMs * 0.5));
    const wait = Math.max(MIN_REFRESH_MS, token.expiresAt - early - Date.now());
    timer = window.setTimeout(renew, wait);
  }

  async function renew() {
    const token = current();
    if (stopped || !token) return;
    try {
      const response = await fetch(`${API}/auth/refresh`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token.token}` },
        cache: "no-store",
      });
      if (stopped) return;
      if (response.status === 401 || response.status === 403) {
        failed();
        return;
      }
      if (response.ok) renewed(tokenFrom(await response.json()));
    } catch {
      // network trouble: try again shortly, the token is still valid for a while
    }
    schedule();
  }

  schedule();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
