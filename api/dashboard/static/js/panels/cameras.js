/**
 * Camera health (4-8-7(4)): every camera of the site, where it looks (door or zone), and its
 * condition — OK, offline (no stream), frozen (the picture does not change), blinded (lens
 * covered, black or sprayed) or starting (not judged yet) — since when. A camera in trouble is
 * told by colour, icon AND word. Refreshed when the log says a camera fault began or ended
 * (`camera.fault`, `camera.fault_cleared`), every 30 s, and after the stream reconnects. The
 * faults themselves are alarms on the console; this is the list to look at.
 * @module panels/cameras
 */

import { ApiError } from "../api.js";
import { errorText } from "../dialog.js";
import { h, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { formatTime } from "../time.js";

/**
 * @typedef {object} Camera
 * @property {string} camera_id
 * @property {string} name
 * @property {string | null} door_id
 * @property {string} zone_id
 * @property {string} condition starting, ok, offline, frozen, blinded
 * @property {string} detail
 * @property {string} since
 */

const REFRESH_MS = 30_000;
const DEBOUNCE_MS = 300;
const HALF_DAY_MS = 12 * 3_600_000;
const FAULT_KINDS = new Set(["camera.fault", "camera.fault_cleared"]);

/** @type {Readonly<Record<string, string>>} */
const CONDITION_ICON = Object.freeze({
  ok: "ok",
  starting: "clock",
  offline: "offline",
  frozen: "warning",
  blinded: "alarm",
});

/**
 * Whether a condition is a fault (anything but OK and not yet judged).
 * @param {string} condition
 * @returns {boolean}
 */
function faulty(condition) {
  return condition !== "ok" && condition !== "starting";
}

/**
 * Mount the camera list.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("cameras-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const summary = h("p", { class: "camera-summary" });
  const list = h("ul", { class: "camera-list" });
  root.append(heading, notice, summary, list);

  /** @type {Camera[] | null} */
  let cameras = null;
  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {{key: string, vars?: Record<string, string>} | null} */
  let noticeMessage = null;
  /** @type {number | undefined} */
  let debounce;
  let generation = 0;

  /**
   * One camera: name, where it looks, its condition and since when.
   * @param {Camera} c
   * @returns {HTMLElement}
   */
  function row(c) {
    const bad = faulty(c.condition);
    const where = c.door_id
      ? t("camera_at_door", { door: plan?.doorName(c.door_id) ?? c.door_id })
      : t("camera_in_zone", { zone: plan?.zoneName(c.zone_id) ?? c.zone_id });
    const older = Date.now() - new Date(c.since).getTime() > HALF_DAY_MS;
    const tone = bad ? "bad" : c.condition === "ok" ? "ok" : "neutral";
    return h(
      "li",
      {
        class: bad ? "camera is-faulty" : "camera",
        "data-key": c.camera_id,
        "data-camera": c.camera_id,
        "data-condition": c.condition,
      },
      h("span", { class: "camera-name", text: c.name }),
      h("span", { class: "camera-where", text: where }),
      h(
        "span",
        { class: `chip chip-${tone} camera-condition` },
        icon(CONDITION_ICON[c.condition] ?? "warning", "icon icon-small"),
        h("span", { text: tOr("camera_condition_", c.condition) }),
      ),
      h("span", {
        class: "camera-since",
        text: t("camera_since", { time: formatTime(c.since, { seconds: false, date: older }) }),
      }),
    );
  }

  function render() {
    heading.replaceChildren(icon("live"), h("span", { text: t("panel_cameras") }));
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    if (cameras === null) {
      summary.textContent = "";
      list.replaceChildren();
      return;
    }
    const bad = cameras.filter((c) => faulty(c.condition)).length;
    summary.textContent = !cameras.length
      ? t("cameras_none")
      : bad
        ? t("cameras_faulty", { n: bad, total: cameras.length })
        : t("cameras_all_ok", { total: cameras.length });
    summary.classList.toggle("is-faulty", bad > 0);
    // Cameras in trouble first, then by name.
    const sorted = [...cameras].sort(
      (a, b) =>
        Number(faulty(b.condition)) - Number(faulty(a.condition)) || a.name.localeCompare(b.name),
    );
    list.replaceChildren(...sorted.map(row));
  }

  async function load() {
    const mine = ++generation;
    try {
      const [found, sitePlan] = await Promise.all([ctx.api.get("/cameras"), ctx.site()]);
      if (mine !== generation) return;
      plan = sitePlan;
      cameras = found;
      noticeMessage = null;
      render();
    } catch (error) {
      if (mine !== generation) return;
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage =
        error instanceof ApiError && error.status === 404
          ? { key: "cameras_not_configured" }
          : { key: "load_failed", vars: { detail: errorText(error) } };
      if (error instanceof ApiError && error.status === 404) cameras = null;
      render();
    }
  }

  const timer = window.setInterval(() => void load(), REFRESH_MS);
  const stops = [
    ctx.hub.on("record", (rec) => {
      if (typeof rec.kind !== "string" || !FAULT_KINDS.has(rec.kind)) return;
      window.clearTimeout(debounce);
      debounce = window.setTimeout(() => void load(), DEBOUNCE_MS);
    }),
    ctx.hub.on("ready", (ready) => {
      if (ready.reconnect) void load(); // polled every 30 s; after a gap, at once
    }),
    onLangChange(() => render()),
  ];
  render();
  void load();
  return {
    destroy() {
      window.clearInterval(timer);
      window.clearTimeout(debounce);
      for (const stop of stops) stop();
    },
  };
}

registerPanel({ id: "cameras", order: 50, permission: "cameras:read", width: "half", mount });
