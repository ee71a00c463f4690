/**
 * The panel registry. A panel is one module that calls `registerPanel` when imported; the page
 * mounts every registered panel the signed-in role may see. Later features add a panel by
 * adding a module and one import line in `panels/index.js`.
 * @module panels
 */

/**
 * What a panel gets when it is mounted.
 * @typedef {object} PanelContext
 * @property {import("./api.js").Client} api calls /api/v1 as the signed-in account
 * @property {import("./hub.js").Hub} hub live updates: "door", "reader", "record", "ready",
 *   the panels' own topics ("alarm", "occupancy"), and "incidents" (the incidents panel's list)
 * @property {(permission: string) => boolean} can whether the account holds a permission
 * @property {(text: string) => void} status say something politely (status live region)
 * @property {import("./main.js").UiConfig} config the page settings from /ui/config
 * @property {import("./main.js").Me} me the signed-in account
 * @property {import("./people.js").People} people names of people, fetched once
 * @property {() => Promise<import("./site.js").SitePlan>} site zones and doors, fetched once
 */

/**
 * A mounted panel: `destroy` stops its timers and subscriptions.
 * @typedef {{destroy: () => void}} PanelHandle
 */

/**
 * @typedef {object} PanelSpec
 * @property {string} id unique; becomes the section's data-panel attribute
 * @property {number} order position on the page (smaller first)
 * @property {string} permission the permission the panel's data needs
 * @property {"full" | "half"} [width] how much of the page's width it takes
 * @property {string[]} [topics] stream events it listens to beyond door, reader and record
 * @property {(root: HTMLElement, ctx: PanelContext) => PanelHandle} mount
 */

/** @type {PanelSpec[]} */
const registry = [];

/**
 * Register a panel (call once, at module load).
 * @param {PanelSpec} spec
 */
export function registerPanel(spec) {
  if (registry.some((p) => p.id === spec.id)) throw new Error(`panel ${spec.id} registered twice`);
  registry.push(spec);
  registry.sort((a, b) => a.order - b.order);
}

/**
 * The registered panels the holder of `permissions` may see, in page order.
 * @param {(permission: string) => boolean} can
 * @returns {PanelSpec[]}
 */
export function panelsFor(can) {
  return registry.filter((p) => can(p.permission));
}
