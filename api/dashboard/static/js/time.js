/**
 * Times as the site sees them: every timestamp is shown in the site's time zone.
 * @module time
 */

import { lang, t } from "./i18n.js";

/** @type {string} */
let siteZone = "UTC";

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
