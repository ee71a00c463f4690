/**
 * A small publish/subscribe hub that carries the live stream's updates to the panels.
 * @module hub
 */

/**
 * @typedef {object} Hub
 * @property {(topic: string, listener: (data: any) => void) => () => void} on subscribe; returns unsubscribe
 * @property {(topic: string, data: any) => void} emit
 */

/**
 * A new hub; one per signed-in session, dropped at logoff.
 * @returns {Hub}
 */
export function createHub() {
  /** @type {Map<string, Set<(data: any) => void>>} */
  const topics = new Map();
  return {
    on(topic, listener) {
      const set = topics.get(topic) ?? new Set();
      set.add(listener);
      topics.set(topic, set);
      return () => set.delete(listener);
    },
    emit(topic, data) {
      for (const listener of topics.get(topic) ?? []) {
        try {
          listener(data);
        } catch (error) {
          console.error(`listener of ${topic} failed`, error);
        }
      }
    },
  };
}
