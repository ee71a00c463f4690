/**
 * Alarm sound and announcement (4-8-7(4)(5)): a chime and an assertive announcement when a door
 * goes into alarm (forced, held open) or the alarm console gets a new alarm (or a repeat of one
 * already acknowledged). One event is told once: a forced door is both a door state and an
 * alarm, and only the first of the two rings. Colour and text are the panels' business.
 * @module alarms
 */

import { t, tOr } from "./i18n.js";
import { chime } from "./sound.js";

export const ALARM_STATES = Object.freeze(new Set(["forced", "held"]));
const SAME_EVENT_MS = 5_000;

/**
 * Watch door and alarm updates for new alarms.
 * @param {import("./hub.js").Hub} hub
 * @param {(text: string) => void} announce say it in the page's assertive live region
 * @returns {() => void} stop
 */
export function watchAlarms(hub, announce) {
  /** @type {Map<string, string>} */
  const doorStates = new Map();
  /** @type {Map<string, {count: number, state: string}>} */
  const alarms = new Map();
  /** @type {Map<string, number>} */
  const rung = new Map();

  /**
   * Chime and announce, unless the same event was just told.
   * @param {string} key the event: alarm type and where, e.g. "door.forced:" + door id
   * @param {string} text
   */
  function ring(key, text) {
    const now = Date.now();
    const before = rung.get(key);
    rung.set(key, now);
    if (before !== undefined && now - before < SAME_EVENT_MS) return;
    chime();
    announce(text);
  }

  const stops = [
    hub.on("door", (door) => {
      const before = doorStates.get(door.door_id);
      doorStates.set(door.door_id, door.state);
      if (ALARM_STATES.has(door.state) && before !== door.state) {
        ring(
          `door.${door.state}:${door.door_id}`,
          t("alarm_announce", { door: door.name, state: t(`state_${door.state}`) }),
        );
      }
    }),
    hub.on("alarm", (alarm) => {
      const before = alarms.get(alarm.alarm_id);
      alarms.set(alarm.alarm_id, { count: alarm.count, state: alarm.state });
      if (alarm.state === "closed") {
        alarms.delete(alarm.alarm_id);
        return;
      }
      const fresh = alarm.state === "raised" && (!before || alarm.count > before.count);
      if (!fresh) return;
      const where = alarm.door_id
        ? (doorNameOf(alarm.door_id) ?? alarm.door_id)
        : String(alarm.source);
      ring(
        `${alarm.type}:${alarm.door_id ?? alarm.source}`,
        t("alarm_new_announce", { type: tOr("alarm_type_", alarm.type), source: where }),
      );
    }),
  ];

  /**
   * A door's name as the stream told it.
   * @param {string} doorId
   * @returns {string | undefined}
   */
  function doorNameOf(doorId) {
    return names.get(doorId);
  }
  /** @type {Map<string, string>} */
  const names = new Map();
  stops.push(hub.on("door", (door) => names.set(door.door_id, door.name)));

  return () => {
    for (const stop of stops) stop();
  };
}
