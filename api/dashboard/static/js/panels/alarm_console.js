/**
 * The alarm console (4-8-7(4)(5)): every alarm not closed, most urgent first, then oldest;
 * each with its type, source, count, age and the operator instructions in the page's
 * language. New (unacknowledged) alarms stand out in colour, icon and word and ring the chime
 * (js/alarms.js); escalated ones are marked. The desk acknowledges with a note, closes an alarm
 * once its condition has cleared, and opens an incident from it (4-8-11(1)). Live from the
 * stream's `alarm` topic; a polite summary line says how many are waiting.
 * @module panels/alarm_console
 */

import { ApiError } from "../api.js";
import { errorText, formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { has, lang, onLangChange, t, tOr } from "../i18n.js";
import { incidentForm } from "../incident_form.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { ageElement, formatTime, tickAges } from "../time.js";

/**
 * @typedef {object} Alarm
 * @property {string} alarm_id
 * @property {string} type
 * @property {number} priority
 * @property {"raised" | "acknowledged" | "cleared" | "closed"} state
 * @property {string} source
 * @property {string | null} zone_id
 * @property {string | null} door_id
 * @property {string} raised_at
 * @property {string} last_at
 * @property {number} count
 * @property {boolean} condition_active
 * @property {string | null} acknowledged_by
 * @property {string | null} acknowledged_at
 * @property {string | null} note
 * @property {boolean} escalated
 * @property {Record<string, string>} instructions
 * @property {boolean} [silent]
 */

/**
 * @typedef {{incident_id: string, title: string, alarm_id: string | null, deadlines: {step: string, ja: string, en: string}[]}} IncidentRef
 */

const HISTORY = 20;

/**
 * Console order: most urgent first, then oldest first (as GET /alarms answers).
 * @param {Alarm} a
 * @param {Alarm} b
 * @returns {number}
 */
export function consoleOrder(a, b) {
  return a.priority - b.priority || a.raised_at.localeCompare(b.raised_at);
}

/**
 * Mount the alarm console.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("alarms-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId, tabindex: -1 });
  const summary = h("p", { class: "alarm-summary", role: "status", "aria-live": "polite" });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const list = h("ol", { class: "alarm-list", "aria-labelledby": headingId });
  const historyBox = /** @type {HTMLDetailsElement} */ (h("details", { class: "alarm-history" }));
  const historySummary = h("summary");
  const historyList = h("ol", { class: "alarm-history-list" });
  historyBox.append(historySummary, historyList);
  const dialog = formDialog("alarm");
  root.append(heading, summary, notice, list, historyBox, dialog.element);

  /** @type {Map<string, Alarm>} */
  const alarms = new Map();
  /** @type {Map<string, boolean>} */
  const silent = new Map();
  /** @type {Map<string, number>} when the stream last told us about each alarm */
  const told = new Map();
  /** @type {Map<string, {incident_id: string, title: string}>} alarm id -> its open incident */
  const incidents = new Map();
  /** @type {Map<string, IncidentRef>} the open incidents, by id (to name a legal step's alarm) */
  const openIncidents = new Map();
  /** @type {Alarm[]} */
  let history = [];
  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {{key: string, vars?: Record<string, string>} | null} */
  let noticeMessage = null;
  const canAck = ctx.can("alarms:ack");
  const canIncident = ctx.can("incidents:write");

  /**
   * Where an alarm comes from, in words.
   * @param {Alarm} a
   * @returns {string}
   */
  function sourceText(a) {
    const [kind, ...rest] = a.source.split(":");
    const id = rest.join(":");
    if (!id) return t("source_site");
    if (kind === "door") return t("source_door", { name: plan?.doorName(id) ?? id });
    if (kind === "zone") return t("source_zone", { name: plan?.zoneName(id) ?? id });
    if (kind === "person") {
      const known = ctx.people.known(id);
      if (!known) void ctx.people.get(id).then((p) => p && render());
      return t("source_person", { name: known?.name ?? id });
    }
    if (kind === "incident") {
      // "incident:<id>/<step>": the incident's title and the step's name, as the panel has them.
      const [incidentId, step] = id.split("/");
      const incident = openIncidents.get(incidentId);
      const deadline = incident?.deadlines.find((d) => d.step === step);
      const stepName = deadline ? (lang() === "ja" ? deadline.ja : deadline.en) : step;
      return t("source_incident", { name: `${incident?.title ?? incidentId} — ${stepName}` });
    }
    return has(`source_${kind}`) ? t(`source_${kind}`, { name: id }) : a.source;
  }

  /**
   * The instructions in the page's language (else English, else any).
   * @param {Alarm} a
   * @returns {string}
   */
  function instructions(a) {
    return a.instructions[lang()] ?? a.instructions.en ?? Object.values(a.instructions)[0] ?? "";
  }

  /**
   * One alarm on the console.
   * @param {Alarm} a
   * @returns {HTMLElement}
   */
  function item(a) {
    // Not yet taken on: it stands out until acknowledged, even when its condition has cleared.
    const fresh = a.acknowledged_by === null;
    const titleId = uid("alarm-title");
    const classes = ["alarm-item", `state-${a.state}`, `prio-${Math.min(a.priority, 5)}`];
    if (fresh) classes.push("is-new");
    if (a.escalated) classes.push("is-escalated");
    const incident = incidents.get(a.alarm_id);
    const acked = a.acknowledged_by !== null;
    const actions = h("div", { class: "alarm-actions" });
    if (canAck && !acked) {
      actions.append(
        button("acknowledge", "ok", t("alarm_ack"), t("alarm_ack_label", { alarm: label(a) }), () =>
          openAck(a),
        ),
      );
    }
    if (canAck && acked) {
      const closable = a.state === "cleared";
      actions.append(
        button(
          "close",
          "cross",
          t("alarm_close"),
          t("alarm_close_label", { alarm: label(a) }),
          () => openClose(a),
          !closable,
        ),
      );
      if (!closable)
        actions.append(h("span", { class: "hint", text: t("alarm_close_when_cleared") }));
    }
    if (canIncident && !incident && plan) {
      actions.append(
        button(
          "incident",
          "alarm",
          t("alarm_open_incident"),
          t("alarm_open_incident_label", { alarm: label(a) }),
          () => openIncident(a),
        ),
      );
    }
    return h(
      "li",
      {
        class: classes.join(" "),
        "data-key": a.alarm_id,
        "data-alarm": a.alarm_id,
        "data-type": a.type,
        "data-state": a.state,
        "aria-labelledby": titleId,
      },
      h(
        "div",
        { class: "alarm-head" },
        h("span", { class: "alarm-prio", text: t("alarm_priority", { n: a.priority }) }),
        icon(fresh ? "alarm" : a.state === "cleared" ? "ok" : "warning"),
        h("h3", { id: titleId, class: "alarm-type", text: tOr("alarm_type_", a.type) }),
        fresh && h("strong", { class: "tag tag-alarm", text: t("alarm_new") }),
        a.escalated && h("strong", { class: "tag tag-escalated", text: t("alarm_escalated") }),
        a.silent && h("span", { class: "tag tag-silent", text: t("alarm_silent") }),
      ),
      h(
        "p",
        { class: "alarm-meta" },
        h("span", { class: "alarm-source", text: sourceText(a) }),
        a.zone_id &&
          h("span", { class: "alarm-zone", text: plan?.zoneName(a.zone_id) ?? a.zone_id }),
        h("span", { class: "alarm-count", text: t("alarm_count", { n: a.count }) }),
        h(
          "span",
          { class: "alarm-age" },
          icon("clock", "icon icon-small"),
          ageElement(a.raised_at, "alarm_raised_ago"),
          h("span", { class: "alarm-at", text: ` (${formatTime(a.raised_at)})` }),
        ),
        h("span", {
          class: `alarm-state state-text-${a.state}`,
          text: tOr("alarm_state_", a.state),
        }),
      ),
      acked &&
        h(
          "p",
          { class: "alarm-ack" },
          icon("person", "icon icon-small"),
          h("span", {
            text: t("alarm_acked_by", {
              who: String(a.acknowledged_by),
              time: a.acknowledged_at ? formatTime(a.acknowledged_at) : "",
            }),
          }),
          a.note && h("q", { class: "alarm-note", text: a.note }),
        ),
      incident &&
        h(
          "p",
          { class: "alarm-incident" },
          icon("warning", "icon icon-small"),
          h("span", { text: t("alarm_has_incident", { title: incident.title }) }),
        ),
      h("p", { class: "alarm-instructions", lang: lang(), text: instructions(a) }),
      actions,
    );
  }

  /**
   * A short name of an alarm for labels: type and source.
   * @param {Alarm} a
   * @returns {string}
   */
  function label(a) {
    return `${tOr("alarm_type_", a.type)} — ${sourceText(a)}`;
  }

  /**
   * An action button.
   * @param {string} action
   * @param {string} iconName
   * @param {string} text
   * @param {string} ariaLabel
   * @param {() => void} onClick
   * @param {boolean} [disabled]
   * @returns {HTMLElement}
   */
  function button(action, iconName, text, ariaLabel, onClick, disabled = false) {
    const b = h(
      "button",
      {
        type: "button",
        class: action === "acknowledge" ? "btn btn-primary" : "btn",
        "data-action": action,
        "aria-label": ariaLabel,
        disabled,
      },
      icon(iconName, "icon icon-small"),
      h("span", { text }),
    );
    b.addEventListener("click", onClick);
    return b;
  }

  /**
   * Where focus goes back to after a dialog about this alarm.
   * @param {string} alarmId
   * @returns {() => HTMLElement | null}
   */
  function backTo(alarmId) {
    return () => {
      const el = list.querySelector(`[data-key="${CSS.escape(alarmId)}"] button:not([disabled])`);
      return el instanceof HTMLElement ? el : heading;
    };
  }

  /**
   * Keep an alarm the server answered with, and redraw.
   * @param {Alarm} a
   */
  function keep(a) {
    if (a.state === "closed") alarms.delete(a.alarm_id);
    else alarms.set(a.alarm_id, { ...a, silent: a.silent ?? silent.get(a.type) ?? false });
    render();
  }

  /** @param {Alarm} a */
  function openAck(a) {
    dialog.open({
      title: () => t("alarm_ack_title", { alarm: label(a) }),
      body: () => [
        h("p", { class: "alarm-instructions", lang: lang(), text: instructions(a) }),
        t("alarm_ack_text"),
      ],
      fields: [{ name: "note", type: "textarea", label: () => t("alarm_note"), maxlength: 500 }],
      confirm: () => t("alarm_ack_confirm"),
      confirmIcon: "ok",
      returnTo: backTo(a.alarm_id),
      async submit(values) {
        const body = values.note ? { note: values.note } : {};
        keep(await ctx.api.post(`/alarms/${encodeURIComponent(a.alarm_id)}/acknowledge`, body));
        ctx.status(t("alarm_acked", { alarm: label(a) }));
      },
    });
  }

  /** @param {Alarm} a */
  function openClose(a) {
    dialog.open({
      title: () => t("alarm_close_title", { alarm: label(a) }),
      body: () => [t("alarm_close_text")],
      fields: [{ name: "note", type: "textarea", label: () => t("alarm_note"), maxlength: 500 }],
      confirm: () => t("alarm_close_confirm"),
      confirmIcon: "cross",
      returnTo: () => heading,
      async submit(values) {
        const body = values.note ? { note: values.note } : {};
        keep(await ctx.api.post(`/alarms/${encodeURIComponent(a.alarm_id)}/close`, body));
        ctx.status(t("alarm_closed", { alarm: label(a) }));
        if (historyBox.open) void loadHistory();
      },
    });
  }

  /** @param {Alarm} a */
  function openIncident(a) {
    if (!plan) return;
    dialog.open(
      incidentForm(ctx, plan, { alarm: a, where: sourceText(a), returnTo: backTo(a.alarm_id) }),
    );
  }

  function render() {
    heading.replaceChildren(icon("alarm"), h("span", { text: t("panel_alarms") }));
    historySummary.textContent = t("alarm_history");
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    const sorted = [...alarms.values()].sort(consoleOrder);
    const waiting = sorted.filter((a) => a.acknowledged_by === null).length;
    summary.textContent = sorted.length
      ? t("alarm_summary", { n: sorted.length, waiting })
      : t("alarm_none");
    summary.dataset.active = String(sorted.length);
    summary.dataset.waiting = String(waiting);
    summary.className = waiting ? "alarm-summary has-waiting" : "alarm-summary";
    redrawKeepingFocus(list, () => list.replaceChildren(...sorted.map(item)), heading);
    historyList.replaceChildren(
      ...history.map((a) =>
        h(
          "li",
          { "data-alarm": a.alarm_id },
          h("span", { class: "ev-time", text: formatTime(a.raised_at, { date: true }) }),
          " ",
          h("strong", { text: tOr("alarm_type_", a.type) }),
          ` — ${sourceText(a)} · ${tOr("alarm_state_", a.state)}`,
          a.acknowledged_by
            ? ` · ${t("alarm_acked_by", { who: a.acknowledged_by, time: "" })}`
            : "",
        ),
      ),
    );
    if (historyBox.open && !history.length)
      historyList.append(h("li", { class: "feed-empty", text: t("alarm_history_none") }));
  }

  async function loadHistory() {
    try {
      history = await ctx.api.get("/alarms/history", { limit: HISTORY });
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage = { key: "load_failed", vars: { detail: errorText(error) } };
      render();
    }
  }

  async function load() {
    const asked = Date.now();
    try {
      const [active, catalogue, sitePlan] = await Promise.all([
        ctx.api.get("/alarms"),
        silent.size ? null : ctx.api.get("/alarms/catalogue"), // the catalogue does not change
        ctx.site(),
      ]);
      plan = sitePlan;
      for (const entry of catalogue ?? []) silent.set(entry.type, entry.silent);
      // The answer is the whole console as it was when asked: alarms gone from it are closed;
      // what the stream told us since is newer and wins.
      const fresh = (/** @type {string} */ id) => (told.get(id) ?? 0) >= asked;
      const open = new Set(active.map((/** @type {Alarm} */ a) => a.alarm_id));
      for (const id of [...alarms.keys()]) if (!open.has(id) && !fresh(id)) alarms.delete(id);
      for (const a of active) {
        if (!fresh(a.alarm_id))
          alarms.set(a.alarm_id, { ...a, silent: silent.get(a.type) ?? false });
      }
      noticeMessage = null;
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage =
        error instanceof ApiError && error.status === 404
          ? { key: "alarms_not_configured" }
          : { key: "load_failed", vars: { detail: errorText(error) } };
      render();
    }
  }

  historyBox.addEventListener("toggle", () => {
    if (historyBox.open) void loadHistory();
  });
  const timer = window.setInterval(() => tickAges(list), 1_000);
  const stops = [
    ctx.hub.on("ready", () => void load()), // alarms may have changed while the stream was down
    ctx.hub.on("alarm", (/** @type {Alarm} */ a) => {
      told.set(a.alarm_id, Date.now());
      keep(a);
      if (a.state === "closed" && historyBox.open) void loadHistory();
    }),
    ctx.hub.on(
      "incident-opened",
      (/** @type {{incident_id: string, title: string, alarm_id: string | null}} */ i) => {
        if (i.alarm_id) incidents.set(i.alarm_id, i);
        render();
      },
    ),
    ctx.hub.on("incidents", (/** @type {IncidentRef[]} */ open) => {
      incidents.clear();
      openIncidents.clear();
      for (const i of open) {
        openIncidents.set(i.incident_id, i);
        if (i.alarm_id) incidents.set(i.alarm_id, i);
      }
      render();
    }),
    onLangChange(() => {
      render();
      dialog.relabel();
    }),
  ];
  render();
  void load();
  return {
    destroy() {
      window.clearInterval(timer);
      for (const stop of stops) stop();
      dialog.close();
    },
  };
}

registerPanel({
  id: "alarms",
  order: 5,
  permission: "alarms:read",
  width: "full",
  topics: ["alarm"],
  mount,
});
