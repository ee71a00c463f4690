/**
 * The door board: every door's live state, grouped by zone like rooms on a plan, with its
 * readers' status, and a momentary unlock for the roles that hold doors:unlock (4-8-7(4)).
 * States are told by colour, icon AND text, never by colour alone. Zone lockdown and its
 * release (4-8-11(2) containment) are zone actions with a confirmation that requires a reason;
 * a locked-down door is drawn distinctly. A door's mode is changed from its tile's menu, again
 * confirmed with a reason. The server records who and why before anything takes effect.
 * @module panels/doors
 */

import { ALARM_STATES } from "../alarms.js";
import { ApiError } from "../api.js";
import { formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { menuButton } from "../menu.js";
import { registerPanel } from "../panels.js";
import { formatTime } from "../time.js";

/**
 * @typedef {{door_id: string, name: string, zone_id: string, state: string, mode: string, auth: string, contact_open: boolean | null, strike_released: boolean, since: string}} Door
 * @typedef {{reader_id: string, door_id: string | null, online: boolean, secure: boolean, tamper: boolean}} Reader
 * @typedef {{id: string, name: string, kind: string, doors: {id: string, name: string}[]}} Zone
 */

// The modes the desk may set door by door (locked_down comes only with a zone lockdown).
const DESK_MODES = Object.freeze([
  "access",
  "unlocked",
  "locked",
  "blocked",
  "locked_open",
  "double_locked",
]);
const LOCKED_DOWN = "locked_down";

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
  const canLockdown = ctx.can("zones:lockdown");
  const canMode = ctx.can("doors:mode");
  const dialog = canUnlock ? unlockDialog(ctx, (message) => showNotice(message)) : null;
  if (dialog) root.append(dialog.element);
  const confirmDialog = formDialog("door-action");
  root.append(confirmDialog.element);

  /**
   * Show a message above the plan (and say it politely).
   * @param {{key: string, vars: Record<string, string | number>}} message
   */
  function showNotice(message) {
    noticeMessage = message;
    notice.textContent = t(message.key, message.vars);
  }

  /** Draw the whole plan: a room per zone, a tile per door (keyboard focus kept). */
  function render() {
    heading.replaceChildren(icon("door"), h("span", { text: t("panel_doors") }));
    if (noticeMessage) notice.textContent = t(noticeMessage.key, noticeMessage.vars);
    redrawKeepingFocus(plan, () => {
      tiles.clear();
      const placed = new Set();
      const rooms = zones.map((zone) => {
        const ids = zone.doors.map((d) => d.id);
        for (const id of ids) placed.add(id);
        return room(zone, t(`zone_kind_${zone.kind}`), ids);
      });
      const others = [...doors.keys()].filter((id) => !placed.has(id));
      if (others.length) rooms.push(room(null, "", others));
      plan.replaceChildren(...rooms);
    });
  }

  /**
   * Whether any entrance of a zone is locked down now.
   * @param {Zone} zone
   * @returns {boolean}
   */
  function lockedDown(zone) {
    return zone.doors.some((d) => doors.get(d.id)?.mode === LOCKED_DOWN);
  }

  /**
   * One zone drawn as a room with its entrance doors along its wall.
   * @param {Zone | null} zone null: the doors of no zone
   * @param {string} kindLabel
   * @param {string[]} doorIds
   * @returns {HTMLElement}
   */
  function room(zone, kindLabel, doorIds) {
    const id = uid("zone");
    const list = h("ul", { class: "zone-doors" });
    for (const doorId of doorIds) {
      const tile = h("li", { class: "door-tile", "data-door": doorId, "data-key": doorId });
      tiles.set(doorId, tile);
      fillTile(tile, doorId);
      list.append(tile);
    }
    const down = zone !== null && lockedDown(zone);
    const kind = zone?.kind ?? "other";
    return h(
      "section",
      {
        class: down ? `zone zone-${kind} zone-locked-down` : `zone zone-${kind}`,
        "aria-labelledby": id,
        "data-zone": zone?.id ?? null,
        "data-key": zone ? `zone:${zone.id}` : null,
        "data-lockdown": zone ? String(down) : null,
      },
      h(
        "div",
        { class: "zone-head" },
        h(
          "h3",
          { id, class: "zone-name" },
          h("span", { text: zone?.name ?? t("zone_unassigned") }),
          kindLabel && h("span", { class: "zone-kind", text: kindLabel }),
          down &&
            h(
              "strong",
              { class: "tag tag-lockdown" },
              icon("locked", "icon icon-small"),
              h("span", { text: t("lockdown_tag") }),
            ),
        ),
        zone && canLockdown && zone.doors.length ? lockdownButton(zone, down) : null,
      ),
      list,
    );
  }

  /**
   * The zone's lockdown (or release) button.
   * @param {Zone} zone
   * @param {boolean} down
   * @returns {HTMLElement}
   */
  function lockdownButton(zone, down) {
    const action = down ? "release" : "lockdown";
    const button = h(
      "button",
      {
        type: "button",
        class: down ? "btn btn-small" : "btn btn-small btn-danger",
        "data-action": action,
        "aria-label": t(down ? "release_zone" : "lockdown_zone", { zone: zone.name }),
      },
      icon(down ? "unlocked" : "locked", "icon icon-small"),
      h("span", { text: t(down ? "release" : "lockdown") }),
    );
    button.addEventListener("click", () => openLockdown(zone, down));
    return button;
  }

  /**
   * The confirmation of a zone lockdown or its release: what will happen, and why (required).
   * @param {Zone} zone
   * @param {boolean} release
   */
  function openLockdown(zone, release) {
    const doorNames = () =>
      zone.doors.map((d) => {
        const live = doors.get(d.id);
        const mode = live ? tOr("mode_", live.mode) : "";
        return h("li", { text: mode ? `${d.name} — ${t("door_mode", { mode })}` : d.name });
      });
    confirmDialog.open({
      title: () => t(release ? "release_title" : "lockdown_title", { zone: zone.name }),
      body: () => [
        t(release ? "release_text" : "lockdown_text"),
        h("ul", { class: "dialog-list" }, ...doorNames()),
        ...(release ? [] : [t("lockdown_emergency_note")]),
        t("recorded_with_reason"),
      ],
      fields: [
        {
          name: "reason",
          type: "textarea",
          label: () => t("reason_field"),
          required: true,
          maxlength: 500,
        },
      ],
      confirm: () => t(release ? "release_confirm" : "lockdown_confirm"),
      confirmIcon: release ? "unlocked" : "locked",
      danger: !release,
      returnTo: () => {
        const el = plan.querySelector(
          `[data-zone="${CSS.escape(zone.id)}"] [data-action="${release ? "lockdown" : "release"}"]`,
        );
        return el instanceof HTMLElement ? el : null;
      },
      async submit(values) {
        const path = `/zones/${encodeURIComponent(zone.id)}/lockdown${release ? "/release" : ""}`;
        const result = await ctx.api.post(path, { reason: values.reason });
        for (const door of result.doors) doors.set(door.door_id, door);
        render();
        const message = {
          key: release ? "release_done" : "lockdown_done",
          vars: { zone: zone.name, seq: result.seq },
        };
        showNotice(message);
        ctx.status(t(message.key, message.vars));
      },
    });
  }

  /**
   * The mode menu of a door tile.
   * @param {Door} door
   * @returns {HTMLElement}
   */
  function modeMenu(door) {
    return menuButton({
      label: t("mode_menu"),
      ariaLabel: t("mode_menu_label", { door: door.name }),
      iconName: "door",
      action: "mode",
      items: () => {
        const current = doors.get(door.door_id) ?? door;
        const down = current.mode === LOCKED_DOWN;
        return DESK_MODES.map((mode) => ({
          value: mode,
          label: tOr("mode_", mode),
          current: mode === current.mode,
          // Locked down: only an emergency opening may override it (fire, evacuation).
          disabled: mode === current.mode || (down && mode !== "locked_open"),
        }));
      },
      choose: (mode) => openMode(door.door_id, mode),
    });
  }

  /**
   * The confirmation of a door mode change: what the mode does, and why (required).
   * @param {string} doorId
   * @param {string} mode
   */
  function openMode(doorId, mode) {
    const name = () => doors.get(doorId)?.name ?? doorId;
    confirmDialog.open({
      title: () => t("mode_title", { door: name(), mode: tOr("mode_", mode) }),
      body: () => [t(`mode_help_${mode}`), t("recorded_with_reason")],
      fields: [
        {
          name: "reason",
          type: "textarea",
          label: () => t("reason_field"),
          required: true,
          maxlength: 500,
        },
      ],
      confirm: () => t("mode_confirm", { mode: tOr("mode_", mode) }),
      confirmIcon: "door",
      danger: mode !== "access",
      returnTo: () => {
        const el = tiles.get(doorId)?.querySelector('[data-action="mode"]');
        return el instanceof HTMLElement ? el : null;
      },
      async submit(values) {
        const result = await ctx.api.put(`/doors/${encodeURIComponent(doorId)}/mode`, {
          mode,
          reason: values.reason,
        });
        const message = {
          key: "mode_done",
          vars: { door: name(), mode: tOr("mode_", mode), seq: result.seq },
        };
        showNotice(message);
        ctx.status(t(message.key, message.vars));
      },
    });
  }

  /**
   * (Re)draw one tile's content, keeping the keyboard focus on its unlock button.
   * @param {HTMLElement} tile
   * @param {string} doorId
   */
  function fillTile(tile, doorId) {
    const door = doors.get(doorId);
    const focused = document.activeElement;
    const hadFocus = focused instanceof HTMLElement && tile.contains(focused);
    const focusAction = hadFocus ? (focused.dataset.action ?? null) : null;
    const state = door?.state ?? "unknown";
    const alarm = ALARM_STATES.has(state);
    const down = door?.mode === LOCKED_DOWN;
    tile.dataset.state = state;
    tile.dataset.mode = door?.mode ?? "";
    tile.className = `door-tile state-${state}${down ? " is-locked-down" : ""}`;
    const name = door?.name ?? doorId;
    const stateLine = h(
      "p",
      { class: "door-state" },
      icon(STATE_ICON[state] ?? "warning"),
      h("span", { class: "state-text", text: tOr("state_", state) || t("state_unknown") }),
      alarm && h("strong", { class: "tag tag-alarm", text: t("alarm") }),
    );
    const lockdownLine = down
      ? h(
          "p",
          { class: "door-lockdown" },
          h(
            "strong",
            { class: "tag tag-lockdown" },
            icon("locked", "icon icon-small"),
            h("span", { text: t("lockdown_tag") }),
          ),
          h("span", { text: t("lockdown_door_hint") }),
        )
      : null;
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
    const actions =
      door && (canUnlock || canMode)
        ? h(
            "div",
            { class: "door-actions" },
            canUnlock ? unlockButton(door) : null,
            canMode ? modeMenu(door) : null,
          )
        : null;
    const parts = [
      stateLine,
      lockdownLine,
      h("h4", { class: "door-name", text: name }),
      meta,
      readerList(doorId, name),
      actions,
    ];
    tile.replaceChildren(...parts.filter((p) => p !== null));
    if (hadFocus) {
      const again = focusAction
        ? tile.querySelector(`[data-action="${CSS.escape(focusAction)}"]`)
        : null;
      (again instanceof HTMLElement ? again : tile.querySelector("button"))?.focus();
    }
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
        "data-action": "unlock",
        "aria-label": t("unlock_door", { door: door.name }),
        disabled: fault,
        title: fault ? t("unlock_in_fault") : null,
      },
      icon("unlocked"),
      h("span", { text: t("unlock") }),
    );
    button.addEventListener("click", () => dialog?.open(door, button));
    return h(
      "span",
      { class: "door-unlock" },
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
      const before = doors.get(door.door_id);
      doors.set(door.door_id, door);
      // A lockdown shows on the zone as well as on the tile: redraw the plan for it.
      if (before && (before.mode === LOCKED_DOWN) !== (door.mode === LOCKED_DOWN)) render();
      else refreshDoor(door.door_id);
    }),
    ctx.hub.on("reader", (/** @type {Reader} */ reader) => {
      readers.set(reader.reader_id, reader);
      if (reader.door_id) refreshDoor(reader.door_id);
    }),
    onLangChange(() => {
      render();
      dialog?.relabel();
      confirmDialog.relabel();
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
      confirmDialog.close();
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
