/**
 * The door board: every door's live state, grouped by zone like rooms on a plan, with its
 * readers' status, and a momentary unlock for the roles that hold doors:unlock (4-8-7(4)).
 * States are told by colour, icon AND text, never by colour alone.
 * @module panels/doors
 */

import { ALARM_STATES } from "../alarms.js";
import { ApiError } from "../api.js";
import { h, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { formatTime } from "../time.js";

/**
 * @typedef {{door_id: string, name: string, zone_id: string, state: string, mode: string, auth: string, contact_open: boolean | null, strike_released: boolean, since: string}} Door
 * @typedef {{reader_id: string, door_id: string | null, online: boolean, secure: boolean, tamper: boolean}} Reader
 * @typedef {{id: string, name: string, kind: string, doors: {id: string, name: string}[]}} Zone
 */

/** @type {Readonly<Record<string, string>>} */
const STATE_ICON = Object.freeze({
  locked: "locked",
  released: "unlocked",
  open: "open",
  held_prealarm: "warning",
  held: "alarm",
  forced: "alarm",
  fault: "fault",
});

/**
 * Mount the door board.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("doors-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId });
  const plan = h("div", { class: "plan" });
  const notice = h("p", { class: "panel-notice", role: "status" });
  root.append(heading, notice, plan);

  /** @type {Zone[]} */
  let zones = [];
  /** @type {Map<string, Door>} */
  const doors = new Map();
  /** @type {Map<string, Reader>} */
  const readers = new Map();
  /** @type {Map<string, HTMLElement>} */
  const tiles = new Map();
  /** @type {{key: string, vars: Record<string, string | number>} | null} */
  let noticeMessage = null;
  const canUnlock = ctx.can("doors:unlock");
  const dialog = canUnlock ? unlockDialog(ctx, (message) => showNotice(message)) : null;
  if (dialog) root.append(dialog.element);

  /**
   * Show a message above the plan (and say it politely).
   * @param {{key: string, vars: Record<string, string | number>}} message
   */
  function showNotice(message) {
    noticeMessage = message;
    notice.textContent = t(message.key, message.vars);
  }

  /** Draw the whole plan: a room per zone, a tile per door. */
  function render() {
    heading.replaceChildren(icon("door"), h("span", { text: t("panel_doors") }));
    if (noticeMessage) notice.textContent = t(noticeMessage.key, noticeMessage.vars);
    tiles.clear();
    const placed = new Set();
    const rooms = zones.map((zone) => {
      const ids = zone.doors.map((d) => d.id);
      for (const id of ids) placed.add(id);
      return room(zone.name, t(`zone_kind_${zone.kind}`), zone.kind, ids);
    });
    const others = [...doors.keys()].filter((id) => !placed.has(id));
    if (others.length) rooms.push(room(t("zone_unassigned"), "", "other", others));
    plan.replaceChildren(...rooms);
  }

  /**
   * One zone drawn as a room with its entrance doors along its wall.
   * @param {string} name
   * @param {string} kindLabel
   * @param {string} kind
   * @param {string[]} doorIds
   * @returns {HTMLElement}
   */
  function room(name, kindLabel, kind, doorIds) {
    const id = uid("zone");
    const list = h("ul", { class: "zone-doors" });
    for (const doorId of doorIds) {
      const tile = h("li", { class: "door-tile", "data-door": doorId });
      tiles.set(doorId, tile);
      fillTile(tile, doorId);
      list.append(tile);
    }
    return h(
      "section",
      { class: `zone zone-${kind}`, "aria-labelledby": id },
      h(
        "h3",
        { id, class: "zone-name" },
        h("span", { text: name }),
        kindLabel && h("span", { class: "zone-kind", text: kindLabel }),
      ),
      list,
    );
  }

  /**
   * (Re)draw one tile's content, keeping the keyboard focus on its unlock button.
   * @param {HTMLElement} tile
   * @param {string} doorId
   */
  function fillTile(tile, doorId) {
    const door = doors.get(doorId);
    const hadFocus = tile.contains(document.activeElement);
    const state = door?.state ?? "unknown";
    const alarm = ALARM_STATES.has(state);
    tile.dataset.state = state;
    tile.className = `door-tile state-${state}`;
    const name = door?.name ?? doorId;
    const stateLine = h(
      "p",
      { class: "door-state" },
      icon(STATE_ICON[state] ?? "warning"),
      h("span", { class: "state-text", text: tOr("state_", state) || t("state_unknown") }),
      alarm && h("strong", { class: "tag tag-alarm", text: t("alarm") }),
    );
    const meta = door
      ? h(
          "p",
          { class: "door-meta" },
          h(
            "span",
            { class: "door-since" },
            icon("clock", "icon icon-small"),
            t("since", { time: formatTime(door.since) }),
          ),
          h("span", {
            class: door.mode === "access" ? "door-mode" : "door-mode mode-special",
            "data-mode": door.mode,
            text: t("door_mode", { mode: tOr("mode_", door.mode) }),
          }),
          h("span", {
            class: "door-auth",
            text: t("door_auth", { auth: tOr("auth_", door.auth) }),
          }),
        )
      : null;
    const parts = [
      stateLine,
      h("h4", { class: "door-name", text: name }),
      meta,
      readerList(doorId, name),
      canUnlock && door ? unlockButton(door) : null,
    ];
    tile.replaceChildren(...parts.filter((p) => p !== null));
    if (hadFocus) tile.querySelector("button")?.focus();
  }

  /**
   * The readers of a door with their status chips.
   * @param {string} doorId
   * @param {string} doorName
   * @returns {HTMLElement}
   */
  function readerList(doorId, doorName) {
    const mine = [...readers.values()].filter((r) => r.door_id === doorId);
    const list = h("ul", {
      class: "readers",
      "aria-label": t("readers_of_door", { door: doorName }),
    });
    if (!mine.length) list.append(h("li", { class: "reader-none", text: t("no_readers") }));
    for (const r of mine) {
      list.append(
        h(
          "li",
          { class: "reader", "data-reader": r.reader_id },
          h("span", { class: "reader-id", text: r.reader_id }),
          chip(
            r.online ? "online" : "offline",
            t(r.online ? "reader_online" : "reader_offline"),
            r.online ? "ok" : "bad",
          ),
          r.online &&
            chip(
              r.secure ? "shield" : "plain",
              t(r.secure ? "reader_secure" : "reader_plain"),
              r.secure ? "ok" : "neutral",
            ),
          r.tamper && chip("alarm", t("reader_tamper"), "bad"),
        ),
      );
    }
    return list;
  }

  /**
   * The unlock button of a door (disabled, with the reason, while the door is in fault).
   * @param {Door} door
   * @returns {HTMLElement}
   */
  function unlockButton(door) {
    const fault = door.state === "fault";
    const button = h(
      "button",
      {
        type: "button",
        class: "btn btn-unlock",
        "aria-label": t("unlock_door", { door: door.name }),
        disabled: fault,
        title: fault ? t("unlock_in_fault") : null,
      },
      icon("unlocked"),
      h("span", { text: t("unlock") }),
    );
    button.addEventListener("click", () => dialog?.open(door, button));
    return h(
      "div",
      { class: "door-actions" },
      button,
      fault && h("span", { class: "hint", text: t("unlock_in_fault") }),
    );
  }

  /**
   * Redraw the tile of one door, or the whole plan when the door is new to us.
   * @param {string} doorId
   */
  function refreshDoor(doorId) {
    const tile = tiles.get(doorId);
    if (tile) fillTile(tile, doorId);
    else render();
  }

  const stops = [
    ctx.hub.on("door", (/** @type {Door} */ door) => {
      doors.set(door.door_id, door);
      refreshDoor(door.door_id);
    }),
    ctx.hub.on("reader", (/** @type {Reader} */ reader) => {
      readers.set(reader.reader_id, reader);
      if (reader.door_id) refreshDoor(reader.door_id);
    }),
    onLangChange(() => {
      render();
      dialog?.relabel();
    }),
  ];

  async function load() {
    try {
      const [zoneList, doorList, readerRows] = await Promise.all([
        ctx.api.get("/zones"),
        ctx.api.get("/doors"),
        ctx.api.get("/readers"),
      ]);
      zones = zoneList;
      // The stream may already have told us newer states: those win.
      for (const door of doorList) if (!doors.has(door.door_id)) doors.set(door.door_id, door);
      for (const r of readerRows) if (!readers.has(r.reader_id)) readers.set(r.reader_id, r);
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      showNotice({
        key: "load_failed",
        vars: { detail: String(error instanceof Error ? error.message : error) },
      });
    }
  }

  render();
  void load();
  return {
    destroy() {
      for (const stop of stops) stop();
      dialog?.element.close();
    },
  };
}

/**
 * A status chip: icon and text, coloured by `tone`.
 * @param {string} iconName
 * @param {string} text
 * @param {"ok" | "bad" | "neutral"} tone
 * @returns {HTMLElement}
 */
function chip(iconName, text, tone) {
  return h(
    "span",
    { class: `chip chip-${tone}` },
    icon(iconName, "icon icon-small"),
    h("span", { text }),
  );
}

/**
 * The confirmation dialog of a momentary unlock, with an optional note for the record.
 * @param {import("../panels.js").PanelContext} ctx
 * @param {(message: {key: string, vars: Record<string, string | number>}) => void} done
 * @returns {{element: HTMLDialogElement, open: (door: Door, opener: HTMLElement) => void, relabel: () => void}}
 */
function unlockDialog(ctx, done) {
  const titleId = uid("unlock-title");
  const noteId = uid("unlock-note");
  const title = h("h2", { id: titleId });
  const text = h("p", { class: "dialog-text" });
  const noteLabel = h("label", { for: noteId });
  const note = /** @type {HTMLTextAreaElement} */ (
    h("textarea", { id: noteId, name: "note", maxlength: 500, rows: 3 })
  );
  const error = h("p", { class: "error", role: "alert" });
  const cancel = h("button", { type: "button", class: "btn", value: "cancel" });
  const confirm = h("button", { type: "submit", class: "btn btn-danger", value: "unlock" });
  const form = h(
    "form",
    { class: "dialog-form" },
    title,
    text,
    noteLabel,
    note,
    error,
    h("div", { class: "dialog-buttons" }, cancel, confirm),
  );
  const element = /** @type {HTMLDialogElement} */ (
    h("dialog", { class: "dialog", "aria-labelledby": titleId, "data-dialog": "unlock" }, form)
  );
  /** @type {Door | null} */
  let target = null;
  /** @type {HTMLElement | null} */
  let returnTo = null;

  function relabel() {
    title.textContent = target ? t("unlock_title", { door: target.name }) : "";
    text.textContent = t("unlock_text");
    noteLabel.textContent = t("unlock_note");
    cancel.textContent = t("cancel");
    confirm.replaceChildren(icon("unlocked"), h("span", { text: t("unlock_confirm") }));
  }

  cancel.addEventListener("click", () => element.close());
  element.addEventListener("close", () => {
    // The tile may have been redrawn meanwhile: go back to its current unlock button.
    const doorId = target?.door_id;
    const current = doorId
      ? document.querySelector(`[data-door="${CSS.escape(doorId)}"] .btn-unlock`)
      : null;
    (current instanceof HTMLElement ? current : returnTo)?.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!target) return;
    const door = target;
    confirm.setAttribute("disabled", "");
    error.textContent = "";
    try {
      const body = note.value.trim() ? { note: note.value.trim() } : undefined;
      const result = await ctx.api.post(`/doors/${encodeURIComponent(door.door_id)}/unlock`, body);
      element.close();
      const message = { key: "unlock_sent", vars: { door: door.name, seq: result.seq } };
      done(message);
      ctx.status(t(message.key, message.vars));
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      error.textContent = t("unlock_failed", { door: door.name, detail });
    } finally {
      confirm.removeAttribute("disabled");
    }
  });

  return {
    element,
    relabel,
    open(door, opener) {
      target = door;
      returnTo = opener;
      note.value = "";
      error.textContent = "";
      relabel();
      element.showModal();
      note.focus();
    },
  };
}

registerPanel({ id: "doors", order: 10, permission: "doors:read", width: "full", mount });
