/**
 * Building DOM without innerHTML: text is always text, never markup (no injection, CSP-safe).
 * @module dom
 */

/** @typedef {Node | string | number | null | undefined | false} Child */
/** @typedef {Record<string, string | number | boolean | null | undefined>} Attrs */

/**
 * Set attributes; `class` sets className, `text` sets textContent, false/null/undefined skip.
 * @param {Element} el
 * @param {Attrs} attrs
 */
function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") el.textContent = String(value);
    else if (name === "class") el.setAttribute("class", String(value));
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

/**
 * Append children, skipping empty ones.
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * A new HTML element.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * A new SVG element.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/**
 * The element with this id, which the page must have.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page element #${id} is missing`);
  return el;
}

let counter = 0;

/**
 * An id unique within the page, for aria-labelledby and label/for pairs.
 * @param {string} prefix
 * @returns {string}
 */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * Redraw part of a panel without losing the keyboard focus: focus goes back to the element
 * with the same data-action inside the item with the same data-key (or to `fallback` when
 * the item is gone).
 * @param {HTMLElement} container
 * @param {() => void} redraw
 * @param {HTMLElement | null} [fallback]
 */
export function redrawKeepingFocus(container, redraw, fallback = null) {
  const active = document.activeElement;
  /** @type {string | null} */
  let key = null;
  /** @type {string | null} */
  let action = null;
  if (active instanceof HTMLElement && container.contains(active)) {
    key = active.closest("[data-key]")?.getAttribute("data-key") ?? null;
    action = active.dataset.action ?? null;
  }
  redraw();
  if (key === null) return;
  const scope = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const target =
    (action && scope?.querySelector(`[data-action="${CSS.escape(action)}"]`)) ||
    scope?.querySelector("button:not([disabled])");
  if (target instanceof HTMLElement) target.focus();
  else fallback?.focus();
}
