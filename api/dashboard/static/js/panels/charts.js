/**
 * Charts where people would rather look than read: entries per hour today, denials by reason
 * (today and 7 days), door alarms by door and alarms by type over 7 days. The numbers are counted by the server
 * (/api/v1/stats, in the site's time zone), never by downloading every record (4-8-6(3)).
 * @module panels/charts
 */

import { ApiError } from "../api.js";
import { barChart, columnChart } from "../chart.js";
import { h, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";

const REFRESH_MS = 60_000;
const DEBOUNCE_MS = 2_000;
const COUNTED = new Set(["access.decision", "door.forced", "door.held", "alarm.raised"]);

/**
 * @typedef {{hours: {hour: number, start: string, count: number}[], total: number}} Entries
 * @typedef {{reasons: {reason: string, count: number}[], total: number}} Denials
 * @typedef {{doors: {door_id: string, name: string | null, forced: number, held: number}[], total: number}} Alarms
 * @typedef {{types: {type: string, count: number}[], total: number}} AlarmTypes
 * @typedef {{entries: Entries, today: Denials, week: Denials, alarms: Alarms, types: AlarmTypes}} Stats
 */

/**
 * Mount the charts.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("charts-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const grid = h("div", { class: "charts" });
  root.append(heading, notice, grid);
  /** @type {Stats | null} */
  let stats = null;
  /** @type {number | undefined} */
  let debounce;
  let generation = 0;

  function render() {
    heading.replaceChildren(icon("clock"), h("span", { text: t("panel_charts") }));
    if (!stats) return;
    const { entries, today, week, alarms, types } = stats;
    grid.replaceChildren(
      columnChart({
        name: "entries",
        caption: t("chart_entries"),
        labels: entries.hours.map((b) => String(b.hour).padStart(2, "0")),
        values: entries.hours.map((b) => b.count),
        className: "series-entries",
        axisLabel: t("chart_hour"),
        tickEvery: 3,
      }),
      denialChart("denials-today", t("chart_denials_today"), today),
      denialChart("denials-week", t("chart_denials_week"), week),
      barChart({
        name: "door-alarms",
        caption: t("chart_alarms"),
        axisLabel: t("chart_door"),
        series: [
          { key: "forced", label: t("legend_forced"), className: "series-forced" },
          { key: "held", label: t("legend_held"), className: "series-held", pattern: true },
        ],
        rows: alarms.doors.map((d) => ({ label: d.name ?? d.door_id, values: [d.forced, d.held] })),
      }),
      barChart({
        name: "alarm-types",
        caption: t("chart_alarm_types"),
        axisLabel: t("chart_alarm_type"),
        series: [{ key: "n", label: t("chart_count"), className: "series-alarm-types" }],
        rows: types.types.map((r) => ({
          label: r.type ? tOr("alarm_type_", r.type) : t("alarm_type_unknown"),
          values: [r.count],
        })),
      }),
    );
  }

  /**
   * Denials by reason as horizontal bars.
   * @param {string} name
   * @param {string} caption
   * @param {Denials} denials
   * @returns {HTMLElement}
   */
  function denialChart(name, caption, denials) {
    return barChart({
      name,
      caption,
      axisLabel: t("chart_reason"),
      series: [{ key: "n", label: t("chart_count"), className: "series-denied" }],
      rows: denials.reasons.map((r) => ({ label: tOr("reason_", r.reason), values: [r.count] })),
    });
  }

  async function load() {
    const mine = ++generation;
    try {
      const [entries, today, week, alarms, types] = await Promise.all([
        ctx.api.get("/stats/entries-per-hour"),
        ctx.api.get("/stats/denials", { days: 1 }),
        ctx.api.get("/stats/denials", { days: 7 }),
        ctx.api.get("/stats/door-alarms", { days: 7 }),
        ctx.api.get("/stats/alarms-by-type", { days: 7 }),
      ]);
      if (mine !== generation) return;
      stats = { entries, today, week, alarms, types };
      notice.textContent = "";
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      notice.textContent = t("load_failed", {
        detail: error instanceof Error ? error.message : String(error),
      });
    }
  }

  const timer = window.setInterval(() => void load(), REFRESH_MS);
  const stops = [
    ctx.hub.on("record", (rec) => {
      if (!COUNTED.has(rec.kind)) return;
      window.clearTimeout(debounce);
      debounce = window.setTimeout(() => void load(), DEBOUNCE_MS);
    }),
    ctx.hub.on("ready", (ready) => {
      if (ready.reconnect) void load(); // records written while the stream was down
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

registerPanel({ id: "charts", order: 30, permission: "events:read", width: "half", mount });
