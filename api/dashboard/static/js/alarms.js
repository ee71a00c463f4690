/**
 * Door alarms (forced open, held open, 4-8-7(4)): a chime and an assertive announcement when a
 * door goes into alarm. Colour and text are the door board's and the feed's business.
 * @module alarms
 */

import { t } from "./i18n.js";
import { chime } from "./sound.js";

export const ALARM_STATES = Object.freeze(new Set(["forced", "held"]));

/**
 * Watch door updates for new alarms.
 * @param {import("./hub.js").Hub} hub
 * @param {(text: string) => void} announce say it in the page's assertive live region
 * @returns {() => void} stop
 */
export function watchAlarms(hub, announce) {
  /** @type {Map<string, string>} */
  const last = new Map();
  return hub.on("door", (door) => {
    const before = last.get(door.door_id);
    last.set(door.door_id, door.state);
    if (ALARM_STATES.has(door.state) && before !== door.state) {
      chime();
      announce(t("alarm_announce", { door: door.name, state: t(`state_${door.state}`) }));
    }
  });
}
