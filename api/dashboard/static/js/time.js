/**
 * Times as the site sees them: every timestamp is shown in the site's time zone.
 * @module time
 */

import { lang } from "./i18n.js";

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
