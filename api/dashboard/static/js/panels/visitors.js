/**
 * The visitor desk (4-8-7(1) 部外者の識別化, escorts): today's visits — waiting for approval,
 * expected, on site — with who comes, for whom, why, where and when. The desk checks an
 * approved visitor in (identity document: its kind and last digits only; a visitor badge; the
 * escort) and out (badge back, or reported not returned); a zone's manager approves or rejects.
 * Visitors and contractors are marked as outsiders. Refreshed when the log says a visit changed.
 * The desk and the managers (visits:register) pre-register a visit: a known visitor or a new
 * one, the host, the purpose, the zones and the window in the site's time; it then waits for
 * the zones' managers.
 * @module panels/visitors
 */

import { ApiError } from "../api.js";
import { errorText, formDialog } from "../dialog.js";
import { h, redrawKeepingFocus, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { registerPanel } from "../panels.js";
import { formatTime, fromSiteInput, siteTimeZone, toSiteInput } from "../time.js";

/**
 * @typedef {object} Visit
 * @property {string} id
 * @property {string} visitor_id
 * @property {string} visitor_name
 * @property {string} visitor_kind
 * @property {string | null} organisation
 * @property {string} host_name
 * @property {string} purpose
 * @property {string[]} zones
 * @property {string} valid_from
 * @property {string} valid_to
 * @property {string} status
 * @property {string[]} pending_zones
 * @property {string | null} escort_name
 * @property {string | null} card_masked
 * @property {string | null} checked_in_at
 * @property {string | null} checked_in_by
 * @property {string | null} overstay_at
 */

/**
 * A visitor or contractor a new visit may name.
 * @typedef {{id: string, name: string, kind: string, organisation: string | null}} Outsider
 */

const SHOWN = ["checked_in", "approved", "requested"]; // on site first, then expected
const ID_DOCUMENTS = ["drivers_licence", "passport", "residence_card", "company_id", "other"];
const HALF_DAY_MS = 12 * 3_600_000;
const DEFAULT_VISIT_MS = 2 * 3_600_000; // a new visit's window: from now, for two hours
const REFRESH_MS = 60_000;
const DEBOUNCE_MS = 300;

/**
 * Mount the visitor desk.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("visitors-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId, tabindex: -1 });
  const tools = h("div", { class: "panel-tools" });
  const notice = h("p", { class: "panel-notice", role: "status" });
  const body = h("div", { class: "desk-lists" });
  const dialog = formDialog("visit");
  root.append(heading, tools, notice, body, dialog.element);

  /** @type {Visit[]} */
  let visits = [];
  /** @type {{id: string, name: string}[]} */
  let staff = [];
  /** @type {Outsider[]} */
  let outsiders = [];
  /** @type {import("../site.js").SitePlan | null} */
  let plan = null;
  /** @type {{key: string, vars?: Record<string, string>} | null} */
  let noticeMessage = null;
  /** @type {number | undefined} */
  let debounce;
  let generation = 0;
  const canDesk = ctx.can("visits:desk");
  const canApprove = ctx.can("visits:approve");
  const canRegister = ctx.can("visits:register");
  const registerLabel = h("span");
  const registerButton = canRegister
    ? h(
        "button",
        { type: "button", class: "btn btn-small", "data-action": "register-visit" },
        icon("badge", "icon icon-small"),
        registerLabel,
      )
    : null;
  if (registerButton) {
    registerButton.addEventListener("click", () => openRegister());
    tools.append(registerButton);
  } else {
    tools.hidden = true;
  }

  /**
   * An action button of a visit.
   * @param {Visit} v
   * @param {string} action
   * @param {string} iconName
   * @param {string} text
   * @param {() => void} onClick
   * @returns {HTMLElement}
   */
  function button(v, action, iconName, text, onClick) {
    const b = h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        "data-action": action,
        "aria-label": `${text}: ${v.visitor_name}`,
      },
      icon(iconName, "icon icon-small"),
      h("span", { text }),
    );
    b.addEventListener("click", onClick);
    return b;
  }

  /**
   * One visit.
   * @param {Visit} v
   * @returns {HTMLElement}
   */
  function row(v) {
    const zones = v.zones.map((z) => plan?.zoneName(z) ?? z).join(", ");
    const overstay = v.overstay_at !== null && v.status === "checked_in";
    const actions = h("div", { class: "desk-actions" });
    if (v.status === "approved" && canDesk)
      actions.append(button(v, "check-in", "badge", t("visit_check_in"), () => openCheckIn(v)));
    if (v.status === "checked_in" && canDesk)
      actions.append(button(v, "check-out", "door", t("visit_check_out"), () => openCheckOut(v)));
    if (v.status === "requested" && canApprove) {
      actions.append(
        button(v, "approve", "ok", t("visit_approve"), () => openDecision(v, "approve")),
        button(v, "reject", "cross", t("visit_reject"), () => openDecision(v, "reject")),
      );
    }
    return h(
      "li",
      {
        class: `desk-item visit is-outsider status-${v.status}${overstay ? " is-overstay" : ""}`,
        "data-key": v.id,
        "data-visit": v.id,
        "data-status": v.status,
      },
      h(
        "p",
        { class: "desk-head" },
        h(
          "span",
          { class: `person-chip person-${v.visitor_kind} is-outsider` },
          icon("badge", "icon icon-small"),
          h("span", { class: "person-name", text: v.visitor_name }),
          h("span", { class: "person-kind", text: tOr("person_", v.visitor_kind) }),
          h("strong", { class: "tag tag-outsider", text: t("outsider") }),
        ),
        v.organisation && h("span", { class: "desk-org", text: v.organisation }),
        h("span", {
          class: `visit-status status-text-${v.status}`,
          text: tOr("visit_status_", v.status),
        }),
        overstay && h("strong", { class: "tag tag-alarm", text: t("visit_overstay") }),
      ),
      h(
        "p",
        { class: "desk-meta" },
        h("span", { text: t("visit_host", { name: v.host_name }) }),
        h("span", { text: t("visit_zones", { zones }) }),
        h("span", {
          text: t("visit_window", {
            from: formatTime(v.valid_from, { seconds: false }),
            to: formatTime(v.valid_to, { seconds: false }),
          }),
        }),
      ),
      h("p", { class: "desk-purpose", text: t("visit_purpose", { purpose: v.purpose }) }),
      v.status === "checked_in" &&
        h(
          "p",
          { class: "desk-meta" },
          h("span", { text: t("visit_badge", { card: v.card_masked ?? "—" }) }),
          h("span", { text: t("visit_escort", { name: v.escort_name ?? "—" }) }),
          v.checked_in_at &&
            h("span", {
              text: t("visit_checked_in_at", {
                time: formatTime(v.checked_in_at, { seconds: false }),
                who: v.checked_in_by ?? "",
              }),
            }),
        ),
      v.status === "requested" &&
        v.pending_zones.length > 0 &&
        h("p", {
          class: "desk-meta",
          text: t("visit_waiting_for", {
            zones: v.pending_zones.map((z) => plan?.zoneName(z) ?? z).join(", "),
          }),
        }),
      actions,
    );
  }

  /**
   * Where focus goes back to after a dialog about this visit.
   * @param {string} id
   * @returns {() => HTMLElement | null}
   */
  function backTo(id) {
    return () => {
      const el = body.querySelector(`[data-key="${CSS.escape(id)}"] button`);
      return el instanceof HTMLElement ? el : heading;
    };
  }

  /**
   * Keep a visit the server answered with.
   * @param {Visit} v
   */
  function keep(v) {
    visits = visits.some((x) => x.id === v.id)
      ? visits.map((x) => (x.id === v.id ? v : x))
      : [...visits, v];
    render();
  }

  /** @param {Visit} v */
  function openCheckIn(v) {
    void loadStaff().then(() => dialog.relabel()); // someone may have joined since
    dialog.open({
      title: () => t("visit_check_in_title", { name: v.visitor_name }),
      body: () => [t("visit_check_in_text")],
      fields: [
        {
          name: "id_document_type",
          type: "select",
          label: () => t("visit_id_document"),
          required: true,
          choices: () => ID_DOCUMENTS.map((d) => ({ value: d, label: t(`id_document_${d}`) })),
        },
        {
          name: "id_document_last",
          type: "text",
          label: () => t("visit_id_last"),
          hint: () => t("visit_id_last_hint"),
          required: true,
          maxlength: 4,
          pattern: /^[0-9A-Za-z]{1,4}$/,
        },
        {
          name: "card",
          type: "text",
          label: () => t("visit_card"),
          hint: () => t("visit_card_hint"),
          required: true,
          maxlength: 64,
        },
        {
          name: "escort_id",
          type: "select",
          label: () => t("visit_escort_field"),
          required: true,
          choices: () => [
            { value: "", label: t("visit_choose") },
            ...staff.map((p) => ({ value: p.id, label: p.name })),
          ],
        },
        {
          name: "pin",
          type: "text",
          label: () => t("visit_pin"),
          hint: () => t("visit_pin_hint"),
          maxlength: 12,
          pattern: /^[0-9]{4,12}$/,
          autocomplete: "off",
        },
      ],
      confirm: () => t("visit_check_in"),
      confirmIcon: "badge",
      returnTo: backTo(v.id),
      async submit(values) {
        const done = await ctx.api.post(`/visits/${encodeURIComponent(v.id)}/check-in`, {
          id_document_type: values.id_document_type,
          id_document_last: values.id_document_last,
          card: values.card,
          escort_id: values.escort_id,
          pin: values.pin || null,
        });
        keep(done);
        ctx.status(t("visit_checked_in", { name: v.visitor_name }));
      },
    });
  }

  /** @param {Visit} v */
  function openCheckOut(v) {
    dialog.open({
      title: () => t("visit_check_out_title", { name: v.visitor_name }),
      body: () => [t("visit_check_out_text")],
      fields: [
        {
          name: "credential_returned",
          type: "checkbox",
          label: () => t("visit_badge_returned"),
          hint: () => t("visit_badge_returned_hint"),
          value: true,
        },
        { name: "note", type: "textarea", label: () => t("alarm_note") },
      ],
      confirm: () => t("visit_check_out"),
      confirmIcon: "door",
      returnTo: () => heading,
      async submit(values) {
        const done = await ctx.api.post(`/visits/${encodeURIComponent(v.id)}/check-out`, {
          credential_returned: values.credential_returned === true,
          note: values.note || null,
        });
        keep(done);
        ctx.status(t("visit_checked_out", { name: v.visitor_name }));
      },
    });
  }

  /**
   * @param {Visit} v
   * @param {"approve" | "reject"} decision
   */
  function openDecision(v, decision) {
    dialog.open({
      title: () => t(`visit_${decision}_title`, { name: v.visitor_name }),
      body: () => [t("visit_purpose", { purpose: v.purpose })],
      fields: [{ name: "note", type: "textarea", label: () => t("alarm_note") }],
      confirm: () => t(`visit_${decision}`),
      confirmIcon: decision === "approve" ? "ok" : "cross",
      danger: decision === "reject",
      returnTo: () => heading,
      async submit(values) {
        keep(
          await ctx.api.post(`/visits/${encodeURIComponent(v.id)}/${decision}`, {
            note: values.note || null,
          }),
        );
      },
    });
  }

  function openRegister() {
    void Promise.all([loadStaff(), loadOutsiders(), ctx.site().then((p) => (plan = p))])
      .then(() => dialog.relabel())
      .catch(() => undefined); // the form then offers less, and the server says what is missing
    const now = Date.now();
    dialog.open({
      title: () => t("visit_register_title"),
      body: () => [t("visit_register_text")],
      fields: [
        {
          name: "visitor_id",
          type: "select",
          label: () => t("visit_visitor"),
          hint: () => t("visit_visitor_hint"),
          choices: () => [
            { value: "", label: t("visit_visitor_new") },
            ...outsiders.map((p) => ({
              value: p.id,
              label: [p.name, p.organisation, tOr("person_", p.kind)].filter(Boolean).join(" — "),
            })),
          ],
        },
        {
          name: "visitor_name",
          type: "text",
          label: () => t("visit_new_name"),
          maxlength: 200,
          autocomplete: "off",
        },
        {
          name: "organisation",
          type: "text",
          label: () => t("visit_new_organisation"),
          maxlength: 200,
          autocomplete: "off",
        },
        {
          name: "host_id",
          type: "select",
          label: () => t("visit_host_field"),
          required: true,
          choices: () => [
            { value: "", label: t("visit_choose") },
            ...staff.map((p) => ({ value: p.id, label: p.name })),
          ],
        },
        {
          name: "purpose",
          type: "textarea",
          label: () => t("visit_purpose_field"),
          required: true,
          maxlength: 500,
        },
        {
          name: "zones",
          type: "checkboxes",
          label: () => t("visit_zones_field"),
          hint: () => t("visit_zones_hint"),
          required: true,
          choices: () => (plan?.zones ?? []).map((z) => ({ value: z.id, label: z.name })),
        },
        {
          name: "valid_from",
          type: "datetime",
          label: () => t("visit_valid_from"),
          hint: () => t("visit_site_time", { zone: siteTimeZone() }),
          required: true,
          value: toSiteInput(new Date(now)),
        },
        {
          name: "valid_to",
          type: "datetime",
          label: () => t("visit_valid_to"),
          hint: () => t("visit_site_time", { zone: siteTimeZone() }),
          required: true,
          value: toSiteInput(new Date(now + DEFAULT_VISIT_MS)),
        },
      ],
      check(values) {
        const known = String(values.visitor_id ?? "");
        const name = String(values.visitor_name ?? "");
        if (!known && !name) return { field: "visitor_name", key: "visit_name_needed" };
        if (known && (name || values.organisation))
          return { field: name ? "visitor_name" : "organisation", key: "visit_name_or_known" };
        for (const field of ["valid_from", "valid_to"]) {
          if (!fromSiteInput(String(values[field] ?? ""))) return { field, key: "field_malformed" };
        }
        return null;
      },
      confirm: () => t("visit_register_confirm"),
      confirmIcon: "badge",
      returnTo: () => registerButton,
      async submit(values) {
        const from = fromSiteInput(String(values.valid_from));
        const to = fromSiteInput(String(values.valid_to));
        /** @type {Visit} */
        const done = await ctx.api.post("/visits", {
          ...(values.visitor_id
            ? { visitor_id: values.visitor_id }
            : {
                visitor: {
                  name: values.visitor_name,
                  organisation: values.organisation || null,
                },
              }),
          host_id: values.host_id,
          purpose: values.purpose,
          zones: Array.isArray(values.zones) ? values.zones : [],
          valid_from: from?.toISOString(),
          valid_to: to?.toISOString(),
        });
        keep(done);
        ctx.status(t("visit_registered", { name: done.visitor_name }));
      },
    });
  }

  function render() {
    heading.replaceChildren(icon("badge"), h("span", { text: t("panel_visitors") }));
    registerLabel.textContent = t("visit_register");
    notice.textContent = noticeMessage ? t(noticeMessage.key, noticeMessage.vars) : "";
    redrawKeepingFocus(
      body,
      () =>
        body.replaceChildren(
          ...SHOWN.map((status) => {
            const mine = visits.filter((v) => v.status === status);
            const id = uid("visits");
            return h(
              "section",
              { class: "desk-section", "aria-labelledby": id, "data-section": status },
              h("h3", { id, text: t(`visits_${status}`, { n: mine.length }) }),
              mine.length
                ? h("ul", { class: "desk-list" }, ...mine.map(row))
                : h("p", { class: "occ-empty", text: t("visits_none") }),
            );
          }),
        ),
      heading,
    );
  }

  async function load() {
    const mine = ++generation;
    const now = Date.now();
    try {
      const [page, sitePlan] = await Promise.all([
        ctx.api.get("/visits", {
          since: new Date(now - HALF_DAY_MS).toISOString(),
          until: new Date(now + HALF_DAY_MS).toISOString(),
          limit: 100,
        }),
        ctx.site(),
      ]);
      if (mine !== generation) return;
      plan = sitePlan;
      visits = page.items;
      noticeMessage = null;
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

  async function loadStaff() {
    if (!(canDesk || canRegister) || !ctx.can("people:read")) return;
    try {
      const page = await ctx.api.get("/people", { kind: "staff", limit: 100 });
      staff = page.items.map((/** @type {{id: string, name: string}} */ p) => ({
        id: p.id,
        name: p.name,
      }));
    } catch {
      staff = []; // the check-in form then offers no escort, and says so when submitted
    }
  }

  /** Visitors and contractors a visit may name (enabled ones), for the registration form. */
  async function loadOutsiders() {
    if (!canRegister || !ctx.can("people:read")) return;
    try {
      const pages = await Promise.all(
        ["visitor", "contractor"].map((kind) =>
          ctx.api.get("/people", { kind, enabled: "true", limit: 100 }),
        ),
      );
      outsiders = pages
        .flatMap((page) => page.items)
        .map((/** @type {Outsider} */ p) => ({
          id: p.id,
          name: p.name,
          kind: p.kind,
          organisation: p.organisation ?? null,
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      outsiders = []; // the form then offers only a new visitor
    }
  }

  const timer = window.setInterval(() => void load(), REFRESH_MS);
  const stops = [
    ctx.hub.on("record", (rec) => {
      if (typeof rec.kind !== "string" || !rec.kind.startsWith("visit.")) return;
      window.clearTimeout(debounce);
      debounce = window.setTimeout(() => {
        void load();
        void loadStaff();
      }, DEBOUNCE_MS);
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
  void loadStaff();
  return {
    destroy() {
      window.clearInterval(timer);
      window.clearTimeout(debounce);
      for (const stop of stops) stop();
      dialog.close();
    },
  };
}

registerPanel({ id: "visitors", order: 40, permission: "visits:read", width: "half", mount });
