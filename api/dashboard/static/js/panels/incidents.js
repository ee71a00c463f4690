/**
 * Incidents (4-8-11): the open incidents with their timeline — containment (a zone lockdown
 * among them, 4-8-11(2)), investigation notes, the people notified — and, when personal data
 * is involved, the legal reporting steps with their due times; an overdue step stands out
 * (4-8-11(6)(7)). The desk opens incidents, records containment and notes, flags personal data
 * and marks steps done; the chief and the zone's managers close with root cause and measures
 * (4-8-11(5)). Refreshed when the log says an incident changed.
 * @module panels/incidents
 */

import { ApiError } from "../api.js";
import { errorText, formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { has, lang, onLangChange, t, tOr } from "../i18n.js";
import { incidentForm } from "../incident_form.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { formatDuration, formatTime } from "../time.js";

/**
 * @typedef {{step: string, ja: string, en: string, due_at: string, done_at: string | null, done_by: string | null, overdue: boolean}} Deadline
 * @typedef {{step_id: string, at: string, kind: string, actor: string | null, text: string | null, detail: Record<string, unknown>}} Step
 * @typedef {object} Incident
 * @property {string} incident_id
 * @property {string} title
 * @property {string | null} description
 * @property {string | null} zone_id
 * @property {string | null} alarm_id
 * @property {"open" | "closed"} state
 * @property {string} opened_at
 * @property {string} opened_by
 * @property {boolean} personal_data
 * @property {Deadline[]} deadlines
 * @property {Step[]} steps
 */

const CONTAINMENT_ACTIONS = Object.freeze([
  "lockdown",
  "door_secured",
  "guard_dispatched",
  "media_secured",
  "police_called",
  "other",
]);
const DEBOUNCE_MS = 300;

/**
 * Whether a legal step is overdue now: the server's flag, or past due and not done.
 * @param {Deadline} d
 * @param {number} [now]
 * @returns {boolean}
 */
export function isOverdue(d, now = Date.now()) {
  return d.done_at === null && (d.overdue || new Date(d.due_at).getTime() <= now);
}

/**
 * Mount the incidents panel.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("incidents-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId, tabindex: -1 });
  const tools = h("div", { class: "panel-tools" });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const list = h("ol", { class: "incident-list", "aria-labelledby": headingId });
  const dialog = formDialog("incident");
  root.append(heading, tools, notice, list, dialog.element);

  /** @type {Incident[]} */
  let incidents = [];
  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {{key: string, vars?: Record<string, string>} | null} */
  let noticeMessage = null;
  /** @type {number | undefined} */
  let debounce;
  let generation = 0;
  /** @type {Set<string>} incidents whose timeline is unfolded (kept across redraws) */
  const unfolded = new Set();
  const canWrite = ctx.can("incidents:write");
  const canClose = ctx.can("incidents:close");

  /**
   * A labelled action button of an incident.
   * @param {Incident} inc
   * @param {string} action
   * @param {string} iconName
   * @param {string} text
   * @param {() => void} onClick
   * @param {string} [className]
   * @returns {HTMLElement}
   */
  function action(inc, action, iconName, text, onClick, className = "btn btn-small") {
    const b = h(
      "button",
      {
        type: "button",
        class: className,
        "data-action": action,
        "aria-label": `${text}: ${inc.title}`,
      },
      icon(iconName, "icon icon-small"),
      h("span", { text }),
    );
    b.addEventListener("click", onClick);
    return b;
  }

  /**
   * The legal reporting steps with their due times.
   * @param {Incident} inc
   * @returns {HTMLElement | null}
   */
  function deadlines(inc) {
    if (!inc.deadlines.length) return null;
    const now = Date.now();
    return h(
      "ul",
      { class: "deadlines", "aria-label": t("incident_deadlines") },
      ...inc.deadlines.map((d) => {
        const overdue = isOverdue(d, now);
        const due = new Date(d.due_at).getTime();
        const state = d.done_at ? "done" : overdue ? "overdue" : "due";
        return h(
          "li",
          { class: `deadline deadline-${state}`, "data-step": d.step, "data-state": state },
          icon(d.done_at ? "ok" : overdue ? "alarm" : "clock", "icon icon-small"),
          h("span", { class: "deadline-name", text: lang() === "ja" ? d.ja : d.en }),
          h("span", {
            class: "deadline-due",
            text: t("deadline_due", { time: formatTime(d.due_at, { date: true, seconds: false }) }),
          }),
          d.done_at
            ? h("span", {
                class: "deadline-status",
                text: t("deadline_done", {
                  time: formatTime(d.done_at, { date: true, seconds: false }),
                  who: d.done_by ?? "",
                }),
              })
            : overdue
              ? h("strong", {
                  class: "tag tag-alarm",
                  text: t("deadline_overdue", { age: formatDuration(now - due) }),
                })
              : h("span", {
                  class: "deadline-status",
                  text: t("deadline_left", { age: formatDuration(due - now) }),
                }),
          canWrite && !d.done_at
            ? action(inc, `step-${d.step}`, "ok", t("deadline_mark_done"), () =>
                openStepDone(inc, d),
              )
            : null,
        );
      }),
    );
  }

  /**
   * One step of the timeline.
   * @param {Step} s
   * @returns {HTMLElement}
   */
  function step(s) {
    const detailAction = typeof s.detail.action === "string" ? s.detail.action : null;
    const what = tOr("step_kind_", s.kind);
    const actionLabel = detailAction
      ? has(`containment_${detailAction}`)
        ? t(`containment_${detailAction}`)
        : detailAction
      : null;
    return h(
      "li",
      { class: `step step-${s.kind}`, "data-kind": s.kind },
      h("span", { class: "ev-time", text: formatTime(s.at, { date: true }) }),
      h("strong", { class: "step-kind", text: actionLabel ? `${what}: ${actionLabel}` : what }),
      s.actor && h("span", { class: "step-actor", text: s.actor }),
      s.text && h("span", { class: "step-text", text: s.text }),
    );
  }

  /**
   * One incident.
   * @param {Incident} inc
   * @returns {HTMLElement}
   */
  function item(inc) {
    const titleId = uid("incident-title");
    const overdue = inc.deadlines.some((d) => isOverdue(d));
    const buttons = h("div", { class: "incident-actions" });
    if (canWrite) {
      buttons.append(
        action(inc, "note", "badge", t("incident_add_note"), () => openNote(inc)),
        action(inc, "contain", "locked", t("incident_contain"), () => openContain(inc)),
      );
      if (!inc.personal_data)
        buttons.append(
          action(inc, "personal-data", "warning", t("incident_mark_personal"), () =>
            openPersonal(inc),
          ),
        );
    }
    if (canClose) {
      // 4-8-11(6)(7): the legal reports come first; the server refuses to close before them.
      const pending = inc.deadlines.filter((d) => d.done_at === null);
      const close = action(
        inc,
        "close",
        "ok",
        t("incident_close"),
        () => openClose(inc),
        "btn btn-small btn-primary",
      );
      if (pending.length) {
        close.setAttribute("disabled", "");
        buttons.append(
          close,
          h("span", {
            class: "hint",
            text: t("incident_close_after_steps", {
              steps: pending
                .map((d) => (lang() === "ja" ? d.ja : d.en))
                .join(lang() === "ja" ? "、" : ", "),
            }),
          }),
        );
      } else buttons.append(close);
    }
    return h(
      "li",
      {
        class: overdue ? "incident has-overdue" : "incident",
        "data-key": inc.incident_id,
        "data-incident": inc.incident_id,
        "aria-labelledby": titleId,
      },
      h(
        "div",
        { class: "incident-head" },
        icon(overdue ? "alarm" : "warning"),
        h("h3", { id: titleId, class: "incident-title", text: inc.title }),
        inc.personal_data &&
          h("strong", { class: "tag tag-personal", text: t("incident_personal_tag") }),
        overdue && h("strong", { class: "tag tag-alarm", text: t("incident_overdue_tag") }),
      ),
      h(
        "p",
        { class: "incident-meta" },
        inc.zone_id &&
          h("span", {
            text: t("incident_in_zone", { zone: plan?.zoneName(inc.zone_id) ?? inc.zone_id }),
          }),
        h("span", {
          text: t("incident_opened_by", {
            time: formatTime(inc.opened_at, { date: true }),
            who: inc.opened_by,
          }),
        }),
        inc.alarm_id && h("span", { class: "incident-from-alarm", text: t("incident_from_alarm") }),
      ),
      inc.description && h("p", { class: "incident-description", text: inc.description }),
      deadlines(inc),
      timeline(inc),
      buttons,
    );
  }

  /**
   * The timeline, folded unless the operator unfolded it.
   * @param {Incident} inc
   * @returns {HTMLElement}
   */
  function timeline(inc) {
    const box = h(
      "details",
      { class: "incident-timeline", open: unfolded.has(inc.incident_id) },
      h("summary", { text: t("incident_timeline", { n: inc.steps.length }) }),
      h("ol", { class: "steps" }, ...inc.steps.map(step)),
    );
    box.addEventListener("toggle", () => {
      if (/** @type {HTMLDetailsElement} */ (box).open) unfolded.add(inc.incident_id);
      else unfolded.delete(inc.incident_id);
    });
    return box;
  }

  /**
   * Where focus goes back to after a dialog about this incident.
   * @param {string} id
   * @returns {() => HTMLElement | null}
   */
  function backTo(id) {
    return () => {
      const el = list.querySelector(`[data-key="${CSS.escape(id)}"] button`);
      return el instanceof HTMLElement ? el : heading;
    };
  }

  /**
   * Keep an incident the server answered with.
   * @param {Incident} inc
   */
  function keep(inc) {
    incidents =
      inc.state === "closed"
        ? incidents.filter((i) => i.incident_id !== inc.incident_id)
        : incidents.map((i) => (i.incident_id === inc.incident_id ? inc : i));
    if (inc.state !== "closed" && !incidents.some((i) => i.incident_id === inc.incident_id))
      incidents.unshift(inc);
    publish();
    render();
  }

  /**
   * POST an incident step and keep the answer.
   * @param {Incident} inc
   * @param {string} path
   * @param {unknown} body
   */
  async function post(inc, path, body) {
    keep(await ctx.api.post(`/incidents/${encodeURIComponent(inc.incident_id)}${path}`, body));
  }

  /** @param {Incident} inc */
  function openNote(inc) {
    dialog.open({
      title: () => t("incident_note_title", { title: inc.title }),
      fields: [{ name: "text", type: "textarea", label: () => t("incident_note"), required: true }],
      confirm: () => t("incident_note_confirm"),
      returnTo: backTo(inc.incident_id),
      submit: (v) => post(inc, "/notes", { text: v.text }),
    });
  }

  /** @param {Incident} inc */
  function openContain(inc) {
    dialog.open({
      title: () => t("incident_contain_title", { title: inc.title }),
      body: () => [t("incident_contain_text")],
      fields: [
        {
          name: "action",
          type: "radio",
          label: () => t("incident_contain_action"),
          required: true,
          choices: () =>
            CONTAINMENT_ACTIONS.map((a) => ({
              value: a,
              label: t(`containment_${a}`),
              hint:
                a === "lockdown"
                  ? inc.zone_id
                    ? t("containment_lockdown_hint", {
                        zone: plan?.zoneName(inc.zone_id) ?? inc.zone_id,
                      })
                    : t("containment_lockdown_no_zone")
                  : undefined,
              disabled: a === "lockdown" && !inc.zone_id,
            })),
        },
        { name: "text", type: "textarea", label: () => t("incident_contain_note") },
      ],
      confirm: () => t("incident_contain_confirm"),
      confirmIcon: "locked",
      returnTo: backTo(inc.incident_id),
      submit: (v) => post(inc, "/containment", { action: v.action, text: v.text || null }),
    });
  }

  /** @param {Incident} inc */
  function openPersonal(inc) {
    dialog.open({
      title: () => t("incident_personal_title", { title: inc.title }),
      body: () => [t("incident_personal_text")],
      fields: [{ name: "text", type: "textarea", label: () => t("incident_personal_note") }],
      confirm: () => t("incident_personal_confirm"),
      confirmIcon: "warning",
      danger: true,
      returnTo: backTo(inc.incident_id),
      submit: (v) => post(inc, "/personal-data", v.text ? { text: v.text } : {}),
    });
  }

  /**
   * @param {Incident} inc
   * @param {Deadline} d
   */
  function openStepDone(inc, d) {
    const name = () => (lang() === "ja" ? d.ja : d.en);
    dialog.open({
      title: () => t("deadline_done_title", { step: name() }),
      body: () => [t("deadline_done_text", { time: formatTime(d.due_at, { date: true }) })],
      fields: [{ name: "text", type: "textarea", label: () => t("deadline_done_note") }],
      confirm: () => t("deadline_mark_done"),
      confirmIcon: "ok",
      returnTo: backTo(inc.incident_id),
      submit: (v) =>
        post(
          inc,
          `/legal-steps/${encodeURIComponent(d.step)}/done`,
          v.text ? { text: v.text } : {},
        ),
    });
  }

  /** @param {Incident} inc */
  function openClose(inc) {
    dialog.open({
      title: () => t("incident_close_title", { title: inc.title }),
      body: () => [t("incident_close_text")],
      fields: [
        {
          name: "root_cause",
          type: "textarea",
          label: () => t("incident_root_cause"),
          required: true,
        },
        { name: "measures", type: "textarea", label: () => t("incident_measures"), required: true },
      ],
      confirm: () => t("incident_close_confirm"),
      confirmIcon: "ok",
      returnTo: () => heading,
      async submit(v) {
        await post(inc, "/close", { root_cause: v.root_cause, measures: v.measures });
        ctx.status(t("incident_closed", { title: inc.title }));
      },
    });
  }

  function render() {
    heading.replaceChildren(icon("warning"), h("span", { text: t("panel_incidents") }));
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    tools.replaceChildren();
    if (canWrite && plan) {
      const open = h(
        "button",
        { type: "button", class: "btn btn-small", "data-action": "open-incident" },
        icon("alarm", "icon icon-small"),
        h("span", { text: t("incident_open_button") }),
      );
      open.addEventListener("click", () => {
        if (plan) dialog.open(incidentForm(ctx, plan, { returnTo: () => heading }));
      });
      tools.append(open);
    }
    redrawKeepingFocus(
      list,
      () => {
        list.replaceChildren(...incidents.map(item));
        if (!incidents.length)
          list.append(h("li", { class: "feed-empty", text: t("incident_none") }));
      },
      heading,
    );
  }

  /** Tell the other panels (the alarm console) which incidents are open. */
  function publish() {
    ctx.hub.emit("incidents", incidents);
  }

  async function load() {
    const mine = ++generation;
    try {
      const [open, sitePlan] = await Promise.all([
        ctx.api.get("/incidents", { open_only: "true", limit: 100 }),
        ctx.site(),
      ]);
      if (mine !== generation) return;
      plan = sitePlan;
      incidents = open;
      noticeMessage = null;
      publish();
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage =
        error instanceof ApiError && error.status === 404
          ? { key: "incidents_not_configured" }
          : { key: "load_failed", vars: { detail: errorText(error) } };
      render();
    }
  }

  function soon() {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(() => void load(), DEBOUNCE_MS);
  }

  // Due times count down; an overdue step must stand out without a reload.
  const timer = window.setInterval(() => {
    if (incidents.some((i) => i.deadlines.length) && !list.contains(document.activeElement))
      render();
  }, 30_000);
  const stops = [
    ctx.hub.on("record", (rec) => {
      if (typeof rec.kind === "string" && rec.kind.startsWith("incident.")) soon();
    }),
    ctx.hub.on("incident-opened", soon),
    ctx.hub.on("ready", soon),
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
      window.clearTimeout(debounce);
      for (const stop of stops) stop();
      dialog.close();
    },
  };
}

registerPanel({ id: "incidents", order: 16, permission: "incidents:read", width: "half", mount });
