/**
 * Names of people, fetched once per session (GET /people/{id}) for the roles that may read
 * people; the occupancy stream and the alarm console carry only ids.
 * @module people
 */

/**
 * @typedef {{id: string, name: string, kind: string, organisation: string | null}} PersonName
 * @typedef {object} People
 * @property {(id: string) => PersonName | undefined} known the cached person, if fetched
 * @property {(person: PersonName) => void} remember keep a person another route returned
 * @property {(id: string) => Promise<PersonName | null>} get the person (fetched once)
 */

/**
 * A name cache for one session.
 * @param {import("./api.js").Client} api
 * @param {(permission: string) => boolean} can
 * @returns {People}
 */
export function createPeople(api, can) {
  /** @type {Map<string, PersonName>} */
  const cache = new Map();
  /** @type {Map<string, Promise<PersonName | null>>} */
  const pending = new Map();
  return {
    known: (id) => cache.get(id),
    remember(person) {
      cache.set(person.id, person);
    },
    get(id) {
      const hit = cache.get(id);
      if (hit) return Promise.resolve(hit);
      if (!can("people:read")) return Promise.resolve(null);
      let request = pending.get(id);
      if (!request) {
        request = api
          .get(`/people/${encodeURIComponent(id)}`)
          .then((/** @type {PersonName} */ p) => {
            const person = {
              id: p.id,
              name: p.name,
              kind: p.kind,
              organisation: p.organisation ?? null,
            };
            cache.set(id, person);
            return person;
          })
          .catch(() => null)
          .finally(() => pending.delete(id));
        pending.set(id, request);
      }
      return request;
    },
  };
}
