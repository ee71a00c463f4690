/**
 * The live feed (GET /api/v1/stream, server-sent events): door, reader and record updates.
 * The server ends a stream when its token expires; we reconnect with the renewed token, and
 * the new stream starts with every door's and reader's current status. Every `ready` tells the
 * panels the stream is (again) subscribed, with `reconnect` false the first time: they refetch
 * their lists on it, so that nothing written while no stream listened is missed.
 * @module stream
 */

import { API } from "./api.js";

const TOPICS = ["door", "reader", "record", "ready"];
const MAX_BACKOFF_MS = 10_000;

/** @typedef {"connecting" | "live" | "lost"} StreamStatus */

/**
 * Open the stream and keep it open until `close()`.
 * @param {() => string | null} token
 * @param {string[]} extraTopics event names to pass on besides door, reader, record and ready
 * @param {{update: (topic: string, data: any) => void, status: (status: StreamStatus) => void, check: () => Promise<void>}} on
 *   `check()` is awaited after a failure, before reconnecting (it ends the session on a 401)
 * @returns {{close: () => void}}
 */
export function openStream(token, extraTopics, on) {
  const topics = [...new Set([...TOPICS, ...extraTopics])];
  /** @type {EventSource | null} */
  let source = null;
  /** @type {number | undefined} */
  let retry;
  let closed = false;
  let backoff = 500;
  let readies = 0;

  function connect() {
    const current = token();
    if (closed || !current) return;
    on.status("connecting");
    const es = new EventSource(`${API}/stream?access_token=${encodeURIComponent(current)}`);
    source = es;
    for (const topic of topics) {
      es.addEventListener(topic, (event) => {
        try {
          const data = JSON.parse(/** @type {MessageEvent} */ (event).data);
          if (topic === "ready") {
            backoff = 500;
            on.status("live");
            data.reconnect = readies > 0; // panels that poll anyway refetch only after a gap
            readies += 1;
          }
          on.update(topic, data);
        } catch (error) {
          console.error("bad stream message", error);
        }
      });
    }
    es.addEventListener("expired", () => {
      es.close();
      connect(); // the token was renewed meanwhile: listen on with the new one
    });
    es.addEventListener("error", () => {
      if (closed || es.readyState !== EventSource.CLOSED) {
        if (!closed) on.status("lost"); // the browser retries by itself
        return;
      }
      on.status("lost");
      es.close();
      const wait = backoff;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      retry = window.setTimeout(async () => {
        await on.check().catch(() => undefined);
        connect();
      }, wait);
    });
  }

  connect();
  return {
    close() {
      closed = true;
      window.clearTimeout(retry);
      source?.close();
    },
  };
}
