/**
 * Occupancy (4-8-7(1) 入退の記録, 部外者の識別化): who is inside each zone now, since when (a live
 * age), in order of entry. Outsiders (visitors, contractors) are marked by colour, icon AND the
 * word; an escorted outsider is drawn as a pair, visitor → escort, and an escort who has left
 * is flagged. Names come from /people/{id} (cached for the session). Roles that may forgive
 * anti-passback do it from the person's row, with a reason (recorded; never one's own).
 * Live from the stream's `occupancy` topic.
 * @module panels/occupancy
 */

import { ApiError } from "../api.js";
import { errorText, formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { ageElement, formatTime, tickAges } from "../time.js";

/**
 * @typedef {object} Occupant
 * @property {string} person_id
 * @property {string} person_kind
 * @property {string} since
 * @property {string | null} escorted_by
 * @property {number | null} entry_seq
 */

/**
 * Whether a kind of person is an outsider (an unknown kind is treated as one, as the API does).
 * @param {string} kind
 * @returns {boolean}
 */
export function isOutsider(kind) {
  return kind !== "staff";
}

/**
 * Mount the occupancy panel.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("occupancy-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId, tabindex: -1 });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const body = h("div", { class: "occupancy" });
  const dialog = formDialog("forgive");
  root.append(heading, notice, body, dialog.element);

  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {Map<string, Occupant[]>} */
  const zones = new Map();
  /** @type {{key: string, vars?: Record<string, string | number>} | null} */
  let noticeMessage = null;
  const canForgive = ctx.can("zones:passback-forgive");

  /**
   * A person's name as known now (fetched in the background when not yet known).
   * @param {string} id
   * @returns {string}
   */
  function nameOf(id) {
    const known = ctx.people.known(id);
    if (known) return known.name;
    void ctx.people.get(id).then((p) => p && render());
    return t("person_unknown_name", { id: id.slice(0, 8) });
  }

  /**
   * A person chip: icon, name, kind; outsiders marked.
   * @param {string} id
   * @param {string} kind
   * @param {string} role "occupant" or "escort"
   * @returns {HTMLElement}
   */
  function personChip(id, kind, role) {
    const outsider = isOutsider(kind);
    return h(
      "span",
      {
        class: `person-chip person-${kind}${outsider ? " is-outsider" : ""}`,
        "data-person": id,
        "data-role": role,
      },
      icon(outsider ? "badge" : "person", "icon icon-small"),
      h("span", { class: "person-name", text: nameOf(id) }),
      h("span", { class: "person-kind", text: tOr("person_", kind) }),
      outsider && h("strong", { class: "tag tag-outsider", text: t("outsider") }),
    );
  }

  /**
   * One person inside a zone; an escorted outsider as the pair visitor → escort.
   * @param {string} zoneId
   * @param {Occupant} o
   * @param {Set<string>} inside ids of everyone inside the zone
   * @returns {HTMLElement}
   */
  function row(zoneId, o, inside) {
    const outsider = isOutsider(o.person_kind);
    const escortGone = o.escorted_by !== null && !inside.has(o.escorted_by);
    const classes = ["occupant"];
    if (outsider) classes.push("is-outsider");
    if (o.escorted_by) classes.push("has-escort");
    if (escortGone) classes.push("escort-gone");
    const actions =
      canForgive &&
      (() => {
        const b = h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            "data-action": "forgive",
            "aria-label": t("forgive_label", { name: nameOf(o.person_id) }),
          },
          icon("unlocked", "icon icon-small"),
          h("span", { text: t("forgive") }),
        );
        b.addEventListener("click", () => openForgive(zoneId, o));
        return b;
      })();
    return h(
      "li",
      {
        class: classes.join(" "),
        "data-key": `${zoneId}:${o.person_id}`,
        "data-person": o.person_id,
        "data-kind": o.person_kind,
        "data-escort": o.escorted_by,
      },
      h(
        "div",
        { class: o.escorted_by ? "escort-pair" : "occupant-main" },
        personChip(o.person_id, o.person_kind, "occupant"),
        o.escorted_by &&
          h(
            "span",
            { class: "escort-link" },
            h("span", { class: "escort-arrow", "aria-hidden": "true", text: "→" }),
            h("span", { class: "escort-word", text: t("escorted_by") }),
          ),
        o.escorted_by &&
          personChip(o.escorted_by, ctx.people.known(o.escorted_by)?.kind ?? "staff", "escort"),
      ),
      h(
        "p",
        { class: "occupant-meta" },
        icon("clock", "icon icon-small"),
        h("span", { text: t("inside_since", { time: formatTime(o.since) }) }),
        ageElement(o.since, "age_for"),
        escortGone &&
          h("strong", { class: "tag tag-alarm" }, h("span", { text: t("escort_not_inside") })),
      ),
      actions,
    );
  }

  function render() {
    heading.replaceChildren(icon("person"), h("span", { text: t("panel_occupancy") }));
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    if (!plan) return;
    const currentPlan = plan;
    redrawKeepingFocus(
      body,
      () =>
        body.replaceChildren(
          ...currentPlan.zones.map((zone) => {
            const people = zones.get(zone.id) ?? [];
            const inside = new Set(people.map((o) => o.person_id));
            const outsiders = people.filter((o) => isOutsider(o.person_kind)).length;
            const id = uid("occ-zone");
            return h(
              "section",
              { class: "occ-zone", "data-zone": zone.id, "aria-labelledby": id },
              h(
                "h3",
                { id, class: "occ-zone-name" },
                h("span", { text: zone.name }),
                h("span", {
                  class: "occ-count",
                  "data-count": people.length,
                  text: t("occupancy_count", { n: people.length, outsiders }),
                }),
              ),
              people.length
                ? h(
                    "ol",
                    { class: "occupants", "aria-label": t("occupants_of", { zone: zone.name }) },
                    ...people.map((o) => row(zone.id, o, inside)),
                  )
                : h("p", { class: "occ-empty", text: t("occupancy_empty") }),
            );
          }),
        ),
      heading,
    );
  }

  /**
   * Forgive a person's anti-passback state in a zone, with a reason.
   * @param {string} zoneId
   * @param {Occupant} o
   */
  function openForgive(zoneId, o) {
    const zoneName = () => plan?.zoneName(zoneId) ?? zoneId;
    dialog.open({
      title: () => t("forgive_title", { name: nameOf(o.person_id), zone: zoneName() }),
      body: () => [t("forgive_text"), t("recorded_with_reason")],
      fields: [
        {
          name: "note",
          type: "textarea",
          label: () => t("reason_field"),
          required: true,
          maxlength: 500,
        },
      ],
      confirm: () => t("forgive_confirm"),
      confirmIcon: "unlocked",
      returnTo: () => heading,
      async submit(values) {
        const result = await ctx.api.post(`/zones/${encodeURIComponent(zoneId)}/passback/forgive`, {
          person_id: o.person_id,
          note: values.note,
        });
        ctx.status(t("forgive_done", { name: nameOf(o.person_id), seq: result.seq }));
        void loadZone(zoneId);
      },
    });
  }

  /**
   * Fetch one zone's occupancy (names come with it: they seed the cache).
   * @param {string} zoneId
   */
  async function loadZone(zoneId) {
    const occ = await ctx.api.get(`/zones/${encodeURIComponent(zoneId)}/occupancy`);
    for (const o of occ.occupants) {
      if (o.name)
        ctx.people.remember({ id: o.person_id, name: o.name, kind: o.kind, organisation: null });
      if (o.escorted_by && o.escort_name)
        ctx.people.remember({
          id: o.escorted_by,
          name: o.escort_name,
          kind: "staff",
          organisation: null,
        });
    }
    zones.set(
      zoneId,
      occ.occupants.map((/** @type {any} */ o) => ({
        person_id: o.person_id,
        person_kind: o.kind,
        since: o.since,
        escorted_by: o.escorted_by,
        entry_seq: o.entry_seq,
      })),
    );
    render();
  }

  async function load() {
    try {
      plan = await ctx.site();
      render();
      await Promise.all(plan.zones.map((z) => (zones.has(z.id) ? null : loadZone(z.id))));
      noticeMessage = null;
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage = { key: "load_failed", vars: { detail: errorText(error) } };
      render();
    }
  }

  const timer = window.setInterval(() => tickAges(body), 1_000);
  const stops = [
    ctx.hub.on("occupancy", (/** @type {{zone_id: string, occupants: Occupant[]}} */ update) => {
      zones.set(update.zone_id, update.occupants);
      render();
    }),
    ctx.hub.on("ready", () => {
      // Entries and exits while the stream was down: ask again.
      if (plan) void Promise.all(plan.zones.map((z) => loadZone(z.id))).catch(() => undefined);
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
  id: "occupancy",
  order: 15,
  permission: "zones:occupancy",
  width: "half",
  topics: ["occupancy"],
  mount,
});
