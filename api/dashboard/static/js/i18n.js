/**
 * Japanese and English: the current language, translation, and the page's static labels.
 * The choice is remembered in localStorage (a preference, not a secret).
 * @module i18n
 */

import { MESSAGES } from "./messages.js";

/** @typedef {"ja" | "en"} Lang */

const STORAGE_KEY = "sekisho.lang";
/** @type {Set<(lang: Lang) => void>} */
const listeners = new Set();

/**
 * Whether a string names a language we have.
 * @param {unknown} value
 * @returns {value is Lang}
 */
function isLang(value) {
  return value === "ja" || value === "en";
}

/**
 * The remembered language, else the browser's (Japanese or English).
 * @returns {Lang}
 */
function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (isLang(saved)) return saved;
  } catch {
    // storage disabled: fall through to the browser's language
  }
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

/** @type {Lang} */
let current = initialLang();

/**
 * The current language.
 * @returns {Lang}
 */
export function lang() {
  return current;
}

/**
 * Translate a key, filling `{name}` placeholders from `vars`.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

/**
 * Whether a message key exists.
 * @param {string} key
 * @returns {boolean}
 */
export function has(key) {
  return Object.hasOwn(MESSAGES.en, key);
}

/**
 * Translate a key that may not exist (e.g. a reason the server added later): the raw value then.
 * @param {string} prefix
 * @param {string | null | undefined} value
 * @returns {string}
 */
export function tOr(prefix, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = prefix + value;
  return Object.hasOwn(MESSAGES.en, key) ? t(key) : value;
}

/**
 * Fill every `[data-i18n]` element's text and `[data-i18n-label]` element's aria-label.
 * @param {ParentNode} root
 */
export function translateStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    if (el instanceof HTMLElement && el.dataset.i18n) el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    if (el instanceof HTMLElement && el.dataset.i18nLabel) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
  }
}

/**
 * Switch language, remember it, relabel the page and tell the listeners.
 * @param {string} next
 */
export function setLang(next) {
  if (!isLang(next)) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
  document.documentElement.lang = next;
  translateStatic(document);
  for (const listener of listeners) listener(next);
}

/**
 * Call `listener` after every language switch.
 * @param {(lang: Lang) => void} listener
 * @returns {() => void} unsubscribe
 */
export function onLangChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
