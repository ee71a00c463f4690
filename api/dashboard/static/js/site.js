/**
 * The site's zones and doors (GET /zones, after login only: 4-8-7(2)), fetched once per
 * session and shared by the panels that name them (alarm console, occupancy, incidents).
 * @module site
 */

/**
 * @typedef {{id: string, name: string, mode: string, auth: string}} ZoneDoor
 * @typedef {{id: string, name: string, kind: string, doors: ZoneDoor[]}} Zone
 * @typedef {object} SitePlan
 * @property {Zone[]} zones
 * @property {(id: string | null | undefined) => string} zoneName the name, else the id
 * @property {(id: string | null | undefined) => string} doorName the name, else the id
 */

/**
 * A lazily fetched plan of the site.
 * @param {import("./api.js").Client} api
 * @returns {() => Promise<SitePlan>}
 */
export function createSitePlan(api) {
  /** @type {Promise<SitePlan> | null} */
  let plan = null;
  return () => {
    plan ??= api.get("/zones").then((/** @type {Zone[]} */ zones) => {
      const zoneNames = new Map(zones.map((z) => [z.id, z.name]));
      const doorNames = new Map(zones.flatMap((z) => z.doors.map((d) => [d.id, d.name])));
      return {
        zones,
        zoneName: (id) => (id ? (zoneNames.get(id) ?? id) : ""),
        doorName: (id) => (id ? (doorNames.get(id) ?? id) : ""),
      };
    });
    plan.catch(() => {
      plan = null; // try again next time
    });
    return plan;
  };
}
