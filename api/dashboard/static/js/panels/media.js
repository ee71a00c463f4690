/**
 * The media desk (4-8-5(4)(6)(7), 4-8-7(1)): items overdue (out past their return date) stand
 * out; carry-in/out requests waiting for the zone's manager, who approves or rejects them;
 * inspections at the door waiting for a second person's confirmation; and the desk's own
 * inspection of an item at the door — the answer says whether it may pass, and why not.
 * Refreshed when the log says a media item moved or a request changed.
 * @module panels/media
 */

import { ApiError } from "../api.js";
import { errorText, formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { has, onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { formatTime } from "../time.js";

/**
 * @typedef {{id: string, kind: string, tag: string, description: string, classification: string, state: string, zone_id: string | null, home_zone: string | null, holder_id: string | null, due_back: string | null, overdue_since: string | null}} Item
 * @typedef {{id: string, item_id: string, direction: string, zone_id: string, person_id: string, purpose: string, destination: string | null, return_by: string | null, status: string, requested_by: string}} MediaRequest
 * @typedef {{id: string, item_id: string | null, tag_seen: string, direction: string, zone_id: string, person_id: string | null, result: string, outcome: string, refusal: string | null, inspected_by: string, inspected_at: string}} Inspection
 */

const REFRESH_MS = 60_000;
const DEBOUNCE_MS = 300;

/**
 * Mount the media desk.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("media-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId, tabindex: -1 });
  const tools = h("div", { class: "panel-tools" });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const body = h("div", { class: "desk-lists" });
  const dialog = formDialog("media");
  root.append(heading, tools, notice, body, dialog.element);

  /** @type {Item[]} */
  let overdue = [];
  /** @type {MediaRequest[]} */
  let requests = [];
  /** @type {Inspection[]} */
  let awaiting = [];
  /** @type {Map<string, Item>} */
  const items = new Map();
  /** @type {{id: string, name: string, kind: string}[]} */
  let people = [];
  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {{key: string, vars?: Record<string, string>} | null} */
  let noticeMessage = null;
  /** @type {number | undefined} */
  let debounce;
  let generation = 0;
  const canDesk = ctx.can("media:desk");
  const canApprove = ctx.can("media:approve");

  /**
   * A person's name (the cache), else the id.
   * @param {string | null} id
   * @returns {string}
   */
  function who(id) {
    if (!id) return "—";
    const known = ctx.people.known(id);
    if (!known) void ctx.people.get(id).then((p) => p && render());
    return known?.name ?? id.slice(0, 8);
  }

  /**
   * An item in words: tag, kind, classification.
   * @param {string | null} itemId
   * @param {string} [fallback]
   * @returns {string}
   */
  function itemText(itemId, fallback = "") {
    const item = itemId ? items.get(itemId) : undefined;
    if (!item) return fallback || (itemId ?? "");
    return t("media_item", {
      tag: item.tag,
      kind: tOr("media_kind_", item.kind),
      classification: tOr("classification_", item.classification),
    });
  }

  /**
   * A small action button.
   * @param {string} key what it acts on (for labels)
   * @param {string} action
   * @param {string} iconName
   * @param {string} text
   * @param {() => void} onClick
   * @returns {HTMLElement}
   */
  function button(key, action, iconName, text, onClick) {
    const b = h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        "data-action": action,
        "aria-label": `${text}: ${key}`,
      },
      icon(iconName, "icon icon-small"),
      h("span", { text }),
    );
    b.addEventListener("click", onClick);
    return b;
  }

  /**
   * A section with a heading and a list (or a line saying there is none).
   * @param {string} name
   * @param {string} title
   * @param {HTMLElement[]} rows
   * @returns {HTMLElement}
   */
  function section(name, title, rows) {
    const id = uid("media-section");
    return h(
      "section",
      { class: "desk-section", "aria-labelledby": id, "data-section": name },
      h("h3", { id, text: title }),
      rows.length
        ? h("ul", { class: "desk-list" }, ...rows)
        : h("p", { class: "occ-empty", text: t("media_none") }),
    );
  }

  function render() {
    heading.replaceChildren(icon("badge"), h("span", { text: t("panel_media") }));
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    tools.replaceChildren();
    if (canDesk) {
      const inspect = h(
        "button",
        { type: "button", class: "btn btn-small", "data-action": "inspect" },
        icon("shield", "icon icon-small"),
        h("span", { text: t("media_inspect") }),
      );
      inspect.addEventListener("click", () => openInspect());
      tools.append(inspect);
    }
    redrawKeepingFocus(
      body,
      () =>
        body.replaceChildren(
          section(
            "overdue",
            t("media_overdue", { n: overdue.length }),
            overdue.map((item) =>
              h(
                "li",
                {
                  class: "desk-item media-overdue",
                  "data-key": `item:${item.id}`,
                  "data-item": item.id,
                },
                h(
                  "p",
                  { class: "desk-head" },
                  icon("alarm", "icon icon-small"),
                  h("strong", { text: itemText(item.id, item.tag) }),
                  h("strong", { class: "tag tag-alarm", text: t("media_overdue_tag") }),
                ),
                h(
                  "p",
                  { class: "desk-meta" },
                  h("span", { text: t("media_holder", { name: who(item.holder_id) }) }),
                  item.due_back &&
                    h("span", {
                      text: t("media_due_back", {
                        time: formatTime(item.due_back, { date: true, seconds: false }),
                      }),
                    }),
                ),
              ),
            ),
          ),
          section(
            "requests",
            t("media_requests", { n: requests.length }),
            requests.map((r) =>
              h(
                "li",
                { class: "desk-item", "data-key": `request:${r.id}`, "data-request": r.id },
                h(
                  "p",
                  { class: "desk-head" },
                  h("strong", { text: itemText(r.item_id) }),
                  h("span", {
                    class: "tag tag-direction",
                    text: tOr("media_direction_", r.direction),
                  }),
                ),
                h(
                  "p",
                  { class: "desk-meta" },
                  h("span", { text: t("media_carrier", { name: who(r.person_id) }) }),
                  h("span", {
                    text: t("visit_zones", { zones: plan?.zoneName(r.zone_id) ?? r.zone_id }),
                  }),
                  r.return_by &&
                    h("span", {
                      text: t("media_return_by", {
                        time: formatTime(r.return_by, { date: true, seconds: false }),
                      }),
                    }),
                  h("span", { text: t("media_requested_by", { who: r.requested_by }) }),
                ),
                h("p", { class: "desk-purpose", text: t("visit_purpose", { purpose: r.purpose }) }),
                canApprove &&
                  h(
                    "div",
                    { class: "desk-actions" },
                    button(itemText(r.item_id), "approve", "ok", t("visit_approve"), () =>
                      openDecision(r, "approve"),
                    ),
                    button(itemText(r.item_id), "reject", "cross", t("visit_reject"), () =>
                      openDecision(r, "reject"),
                    ),
                  ),
              ),
            ),
          ),
          section(
            "awaiting",
            t("media_awaiting", { n: awaiting.length }),
            awaiting.map((i) =>
              h(
                "li",
                { class: "desk-item", "data-key": `inspection:${i.id}`, "data-inspection": i.id },
                h(
                  "p",
                  { class: "desk-head" },
                  h("strong", { text: itemText(i.item_id, i.tag_seen) }),
                  h("span", {
                    class: "tag tag-direction",
                    text: tOr("media_direction_", i.direction),
                  }),
                ),
                h(
                  "p",
                  { class: "desk-meta" },
                  h("span", { text: t("media_carrier", { name: who(i.person_id) }) }),
                  h("span", {
                    text: t("media_inspected_by", {
                      who: i.inspected_by,
                      time: formatTime(i.inspected_at, { seconds: false }),
                    }),
                  }),
                ),
                canDesk &&
                  h(
                    "div",
                    { class: "desk-actions" },
                    button(i.tag_seen, "confirm-second", "ok", t("media_confirm"), () =>
                      openConfirm(i),
                    ),
                  ),
              ),
            ),
          ),
        ),
      heading,
    );
  }

  /**
   * The answer of an inspection, in words: it passed, waits for a second person, or why not.
   * @param {Inspection} i
   * @returns {string}
   */
  function outcomeText(i) {
    if (i.outcome === "refused" && i.refusal) {
      const why = has(`refusal_${i.refusal}`) ? t(`refusal_${i.refusal}`) : i.refusal;
      return t("media_outcome_refused", { why });
    }
    return tOr("media_outcome_", i.outcome);
  }

  function openInspect() {
    void loadPeople().then(() => dialog.relabel());
    dialog.open({
      title: () => t("media_inspect_title"),
      body: () => [t("media_inspect_text")],
      fields: [
        { name: "tag", type: "text", label: () => t("media_tag"), required: true, maxlength: 64 },
        {
          name: "direction",
          type: "radio",
          label: () => t("media_direction"),
          required: true,
          choices: () => ["in", "out"].map((d) => ({ value: d, label: t(`media_direction_${d}`) })),
        },
        {
          name: "zone_id",
          type: "select",
          label: () => t("incident_zone"),
          required: true,
          choices: () => [
            { value: "", label: t("visit_choose") },
            ...(plan?.zones ?? []).map((z) => ({ value: z.id, label: z.name })),
          ],
        },
        {
          name: "person_id",
          type: "select",
          label: () => t("media_carrier_field"),
          required: true,
          choices: () => [
            { value: "", label: t("visit_choose") },
            ...people.map((p) => ({ value: p.id, label: `${p.name} (${tOr("person_", p.kind)})` })),
          ],
        },
        {
          name: "result",
          type: "radio",
          label: () => t("media_result"),
          required: true,
          choices: () => ["pass", "fail"].map((r) => ({ value: r, label: t(`media_result_${r}`) })),
        },
        { name: "notes", type: "textarea", label: () => t("alarm_note") },
      ],
      confirm: () => t("media_inspect_confirm"),
      confirmIcon: "shield",
      returnTo: () => heading,
      async submit(values) {
        /** @type {Inspection} */
        const done = await ctx.api.post("/media/inspections", {
          tag: values.tag,
          direction: values.direction,
          zone_id: values.zone_id,
          person_id: values.person_id,
          result: values.result,
          notes: values.notes || null,
        });
        const message = {
          key: "media_inspected",
          vars: { tag: done.tag_seen, outcome: outcomeText(done) },
        };
        noticeMessage = message;
        ctx.status(t(message.key, message.vars));
        void load();
      },
    });
  }

  /** @param {Inspection} i */
  function openConfirm(i) {
    dialog.open({
      title: () => t("media_confirm_title", { tag: itemText(i.item_id, i.tag_seen) }),
      body: () => [t("media_confirm_text")],
      fields: [
        {
          name: "result",
          type: "radio",
          label: () => t("media_result"),
          required: true,
          choices: () => ["pass", "fail"].map((r) => ({ value: r, label: t(`media_result_${r}`) })),
        },
        { name: "notes", type: "textarea", label: () => t("alarm_note") },
      ],
      confirm: () => t("media_confirm"),
      confirmIcon: "ok",
      returnTo: () => heading,
      async submit(values) {
        /** @type {Inspection} */
        const done = await ctx.api.post(`/media/inspections/${encodeURIComponent(i.id)}/confirm`, {
          result: values.result,
          notes: values.notes || null,
        });
        noticeMessage = {
          key: "media_inspected",
          vars: { tag: done.tag_seen, outcome: outcomeText(done) },
        };
        void load();
      },
    });
  }

  /**
   * @param {MediaRequest} r
   * @param {"approve" | "reject"} decision
   */
  function openDecision(r, decision) {
    dialog.open({
      title: () => t(`media_${decision}_title`, { item: itemText(r.item_id) }),
      body: () => [t("visit_purpose", { purpose: r.purpose })],
      fields: [{ name: "note", type: "textarea", label: () => t("alarm_note") }],
      confirm: () => t(`visit_${decision}`),
      confirmIcon: decision === "approve" ? "ok" : "cross",
      danger: decision === "reject",
      returnTo: () => heading,
      async submit(values) {
        await ctx.api.post(`/media/requests/${encodeURIComponent(r.id)}/${decision}`, {
          note: values.note || null,
        });
        void load();
      },
    });
  }

  async function loadPeople() {
    if (!canDesk || !ctx.can("people:read")) return;
    try {
      const page = await ctx.api.get("/people", { limit: 100 });
      people = page.items;
    } catch {
      people = [];
    }
  }

  async function load() {
    const mine = ++generation;
    try {
      const [late, pending, waiting, sitePlan] = await Promise.all([
        ctx.api.get("/media/overdue"),
        ctx.api.get("/media/requests", { status: "requested", limit: 50 }),
        ctx.api.get("/media/inspections", { outcome: "awaiting_second", limit: 50 }),
        ctx.site(),
      ]);
      const wanted = new Set([
        ...pending.items.map((/** @type {MediaRequest} */ r) => r.item_id),
        ...waiting.items.map((/** @type {Inspection} */ i) => i.item_id).filter(Boolean),
      ]);
      for (const item of late) items.set(item.id, item);
      await Promise.all(
        [...wanted]
          .filter((id) => !items.has(id))
          .map((id) =>
            ctx.api
              .get(`/media/items/${encodeURIComponent(id)}`)
              .then((/** @type {Item} */ item) => items.set(item.id, item))
              .catch(() => undefined),
          ),
      );
      if (mine !== generation) return;
      plan = sitePlan;
      overdue = late;
      requests = pending.items;
      awaiting = waiting.items;
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeMessage =
        error instanceof ApiError && error.status === 404
          ? { key: "custody_not_configured" }
          : { key: "load_failed", vars: { detail: errorText(error) } };
      render();
    }
  }

  const timer = window.setInterval(() => void load(), REFRESH_MS);
  const stops = [
    ctx.hub.on("record", (rec) => {
      if (typeof rec.kind !== "string" || !rec.kind.startsWith("media.")) return;
      window.clearTimeout(debounce);
      debounce = window.setTimeout(() => void load(), DEBOUNCE_MS);
    }),
    ctx.hub.on("ready", (ready) => {
      if (ready.reconnect) void load(); // polled every minute; after a gap, at once
    }),
    onLangChange(() => {
      render();
      dialog.relabel();
    }),
  ];
  render();
  void load();
  void loadPeople();
  return {
    destroy() {
      window.clearInterval(timer);
      window.clearTimeout(debounce);
      for (const stop of stops) stop();
      dialog.close();
    },
  };
}

registerPanel({ id: "media", order: 45, permission: "media:read", width: "half", mount });
