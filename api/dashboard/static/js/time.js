/**
 * Times as the site sees them: every timestamp is shown in the site's time zone.
 * @module time
 */

import { lang, t } from "./i18n.js";

/** @type {string} */
let siteZone = "UTC";
const DAY_MS = 86_400_000;

/**
 * Use this IANA time zone for every time shown (from /ui/config after login).
 * @param {string} zone
 */
export function setSiteTimeZone(zone) {
  siteZone = zone;
}

/**
 * The site's time zone.
 * @returns {string}
 */
export function siteTimeZone() {
  return siteZone;
}

/**
 * Format an ISO timestamp in the site's zone.
 * @param {string | Date} value
 * @param {{date?: boolean, seconds?: boolean}} [options]
 * @returns {string}
 */
export function formatTime(value, options = {}) {
  const when = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(when.getTime())) return String(value);
  /** @type {Intl.DateTimeFormatOptions} */
  const format = {
    timeZone: siteZone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  };
  if (options.seconds !== false) format.second = "2-digit";
  if (options.date) {
    format.year = "numeric";
    format.month = "2-digit";
    format.day = "2-digit";
  }
  return new Intl.DateTimeFormat(lang() === "ja" ? "ja-JP" : "en-GB", format).format(when);
}

/**
 * The wall-clock reading of an instant in a time zone: year, month (1-12), day, hour, minute.
 * @param {Date} when
 * @param {string} zone
 * @returns {{year: number, month: number, day: number, hour: number, minute: number, second: number}}
 */
function wallClock(when, zone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(when);
  /** @param {string} type */
  const part = (type) => Number(parts.find((p) => p.type === type)?.value ?? "0");
  return {
    year: part("year"),
    month: part("month"),
    day: part("day"),
    hour: part("hour"),
    minute: part("minute"),
    second: part("second"),
  };
}

/**
 * How far the site's clock is ahead of UTC at an instant, in milliseconds.
 * @param {number} ms
 * @returns {number}
 */
function siteOffsetMs(ms) {
  const w = wallClock(new Date(ms), siteZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * An instant as the site's wall clock reads it, in the form of a datetime-local input
 * ("YYYY-MM-DDTHH:MM"), whatever the browser's own time zone.
 * @param {Date} when
 * @returns {string}
 */
export function toSiteInput(when) {
  const w = wallClock(when, siteZone);
  /** @param {number} n */
  const two = (n) => String(n).padStart(2, "0");
  return `${w.year}-${two(w.month)}-${two(w.day)}T${two(w.hour)}:${two(w.minute)}`;
}

/**
 * The instant a datetime-local input's text ("YYYY-MM-DDTHH:MM[:SS]") means on the site's
 * wall clock; null if it is not such a text. A time given twice by a clock change is its first
 * occurrence; a time the clocks skipped is moved on by the change (02:30 in a 02:00 → 03:00
 * gap is 03:30).
 * @param {string} text
 * @returns {Date | null}
 */
export function fromSiteInput(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0));
  if (Number.isNaN(wall)) return null;
  const before = wall - siteOffsetMs(wall - DAY_MS); // with the offset of the day before
  const after = wall - siteOffsetMs(wall + DAY_MS); // with the offset of the day after
  for (const at of [Math.min(before, after), Math.max(before, after)]) {
    if (at + siteOffsetMs(at) === wall) return new Date(at);
  }
  return new Date(before);
}

/**
 * A duration in words of the current language: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
 * @param {number} ms
 * @returns {string}
 */
export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t("dur_s", { n: s });
  const min = Math.floor(s / 60);
  if (min < 60) return t("dur_min", { n: min });
  const h = Math.floor(min / 60);
  if (h < 48) return t("dur_h", { h, m: min % 60 });
  return t("dur_d", { d: Math.floor(h / 24), h: h % 24 });
}

/**
 * How long ago an ISO timestamp was ("12 min"); "" for a bad value.
 * @param {string} iso
 * @param {number} [now]
 * @returns {string}
 */
export function formatAge(iso, now = Date.now()) {
  const at = new Date(iso).getTime();
  return Number.isNaN(at) ? "" : formatDuration(now - at);
}

/**
 * Refresh every live age under `root`: elements with `data-since` (an ISO time) show
 * `t(data-age-key, {age})`, e.g. "12 min ago".
 * @param {ParentNode} root
 * @param {number} [now]
 */
export function tickAges(root, now = Date.now()) {
  for (const el of root.querySelectorAll("[data-since]")) {
    if (!(el instanceof HTMLElement) || !el.dataset.since) continue;
    el.textContent = t(el.dataset.ageKey ?? "age_ago", { age: formatAge(el.dataset.since, now) });
  }
}

/**
 * An element showing a live age (kept fresh by `tickAges`).
 * @param {string} iso
 * @param {string} [key] the message, with an {age} placeholder
 * @param {string} [className]
 * @returns {HTMLElement}
 */
export function ageElement(iso, key = "age_ago", className = "age") {
  const el = document.createElement("span");
  el.className = className;
  el.dataset.since = iso;
  el.dataset.ageKey = key;
  el.textContent = t(key, { age: formatAge(iso) });
  return el;
}
