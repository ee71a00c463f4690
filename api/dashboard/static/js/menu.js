/**
 * A menu button (WAI-ARIA menu button pattern): Enter, Space or ArrowDown opens it on the
 * first item; arrows, Home and End move; Enter chooses; Escape closes and returns to the
 * button; Tab or a click elsewhere closes it.
 * @module menu
 */

import { h, uid } from "./dom.js";
import { icon } from "./icons.js";

/**
 * @typedef {object} MenuItem
 * @property {string} value
 * @property {string} label
 * @property {boolean} [disabled]
 * @property {boolean} [current] marked as the current choice
 */

/**
 * A button that opens a menu of items.
 * @param {object} options
 * @param {string} options.label the button's text
 * @param {string} [options.ariaLabel] the button's accessible name, when the text is not enough
 * @param {string} options.iconName
 * @param {string} options.action the button's data-action (to find it again after a redraw)
 * @param {() => MenuItem[]} options.items
 * @param {(value: string, button: HTMLElement) => void} options.choose
 * @returns {HTMLElement} a wrapper holding the button and its menu
 */
export function menuButton({ label, ariaLabel, iconName, action, items, choose }) {
  const menuId = uid("menu");
  const button = h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      "aria-controls": menuId,
      "aria-label": ariaLabel ?? null,
      "data-action": action,
    },
    icon(iconName, "icon icon-small"),
    h("span", { text: label }),
    h("span", { class: "caret", "aria-hidden": "true", text: "▾" }),
  );
  const list = h("ul", { id: menuId, class: "menu", role: "menu", hidden: true });
  const wrap = h("div", { class: "menu-wrap" }, button, list);

  /** @returns {HTMLElement[]} */
  function entries() {
    return [...list.querySelectorAll('[role="menuitem"]:not([aria-disabled="true"])')].filter(
      (el) => el instanceof HTMLElement,
    );
  }

  /** @param {number} index */
  function focusAt(index) {
    const all = entries();
    if (!all.length) return;
    all[(index + all.length) % all.length].focus();
  }

  /** @param {boolean} [refocus] */
  function close(refocus = false) {
    if (list.hidden) return;
    list.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", outside, true);
    if (refocus) button.focus();
  }

  /** @param {Event} event */
  function outside(event) {
    if (event.target instanceof Node && !wrap.contains(event.target)) close();
  }

  /** @param {number} [at] */
  function open(at = 0) {
    list.replaceChildren(
      ...items().map((item) => {
        const entry = h(
          "button",
          {
            type: "button",
            role: "menuitem",
            tabindex: -1,
            class: item.current ? "menu-item is-current" : "menu-item",
            "data-value": item.value,
            "aria-disabled": item.disabled ? "true" : null,
          },
          item.current ? icon("ok", "icon icon-small") : h("span", { class: "menu-spacer" }),
          h("span", { text: item.label }),
        );
        entry.addEventListener("click", () => {
          if (item.disabled) return;
          close();
          choose(item.value, button);
        });
        return h("li", { role: "none" }, entry);
      }),
    );
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", outside, true);
    focusAt(at);
  }

  button.addEventListener("click", () => (list.hidden ? open() : close(true)));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open(event.key === "ArrowDown" ? 0 : -1);
    }
  });
  list.addEventListener("keydown", (event) => {
    const all = entries();
    const index = all.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    const moves = /** @type {Record<string, number>} */ ({
      ArrowDown: index + 1,
      ArrowUp: index - 1,
      Home: 0,
      End: -1,
    });
    if (event.key in moves) {
      event.preventDefault();
      focusAt(moves[event.key]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close(true);
    } else if (event.key === "Tab") {
      close();
    }
  });
  return wrap;
}
