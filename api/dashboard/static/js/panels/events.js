/**
 * The live event feed: records newest first, filtered by kind, outcome, door and person kind;
 * a click opens the record, with the camera pictures kept as its evidence (issue 7: shown only
 * when asked for, each view recorded by the API). Outsiders (visitors, contractors) are marked
 * on every row (4-8-7(1) 部外者の識別化); door alarms stand out in colour, icon and text (4-8-7(4)).
 * @module panels/events
 */

import { ALARM_STATES } from "../alarms.js";
import { ApiError } from "../api.js";
import { h, uid } from "../dom.js";
import { onLangChange, t, tOr } from "../i18n.js";
import { icon } from "../icons.js";
import { evidenceList } from "../evidence.js";
import { registerPanel } from "../panels.js";
import { formatTime } from "../time.js";

/**
 * @typedef {{seq: number, ts: string, kind: string, door_id: string | null, zone_id: string | null, reader_id: string | null, person_id: string | null, person_kind: string | null, credential: string | null, direction: string | null, outcome: string | null, reason: string | null, actor: string | null, detail: Record<string, unknown>}} Rec
 * @typedef {{kind: string, outcome: string, door: string, personKind: string}} Filters
 */

const PAGE = 50;
const KEEP = 300;
const ALARM_KINDS = new Set([...ALARM_STATES].map((s) => `door.${s}`));
const WARNING_KINDS = new Set([
  "door.held_prealarm",
  "door.fault",
  "reader.tamper",
  "reader.offline",
  "module.offline",
  "operator.login_failed",
]);
const OUTSIDERS = new Set(["visitor", "contractor"]);
const FIELDS = [
  "seq",
  "ts",
  "kind",
  "door_id",
  "zone_id",
  "reader_id",
  "person_id",
  "person_kind",
  "credential",
  "direction",
  "outcome",
  "reason",
  "actor",
];

/**
 * Whether a record passes the filters.
 * @param {Rec} rec
 * @param {Filters} f
 * @returns {boolean}
 */
function matches(rec, f) {
  return (
    (!f.kind || rec.kind === f.kind) &&
    (!f.outcome || rec.outcome === f.outcome) &&
    (!f.door || rec.door_id === f.door) &&
    (!f.personKind || rec.person_kind === f.personKind)
  );
}

/**
 * Mount the feed.
 * @param {HTMLElement} root
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {import("../panels.js").PanelHandle}
 */
function mount(root, ctx) {
  const headingId = uid("events-heading");
  root.setAttribute("aria-labelledby", headingId);
  const heading = h("h2", { id: headingId });
  /** @type {Filters} */
  const filters = { kind: "", outcome: "", door: "", personKind: "" };
  const selects = {
    kind: select("kind"),
    outcome: select("outcome"),
    door: select("door"),
    personKind: select("personKind"),
  };
  const legend = h("legend");
  const labels = {
    kind: h("label", { for: selects.kind.id }),
    outcome: h("label", { for: selects.outcome.id }),
    door: h("label", { for: selects.door.id }),
    personKind: h("label", { for: selects.personKind.id }),
  };
  const form = h(
    "form",
    { class: "filters" },
    h(
      "fieldset",
      {},
      legend,
      ...Object.keys(selects).map((k) =>
        h(
          "div",
          { class: "filter" },
          labels[/** @type {keyof Filters} */ (k)],
          selects[/** @type {keyof Filters} */ (k)],
        ),
      ),
    ),
  );
  const notice = h("p", { class: "panel-notice", role: "status" });
  const list = h("ol", { class: "feed", "aria-labelledby": headingId });
  const older = h("button", { type: "button", class: "btn btn-older", hidden: true });
  const detail = detailDialog(ctx);
  root.append(heading, form, notice, list, older, detail.element);

  /** @type {Rec[]} newest first */
  let items = [];
  /** @type {number | null} */
  let nextBefore = null;
  /** @type {Map<string, string>} */
  const doorNames = new Map();
  let generation = 0;
  /** @type {string} */
  let noticeKey = "";
  /** @type {Record<string, string>} */
  let noticeVars = {};

  /**
   * A select whose value is kept in `filters[key]`.
   * @param {keyof Filters} key
   * @returns {HTMLSelectElement}
   */
  function select(key) {
    const el = /** @type {HTMLSelectElement} */ (
      h("select", { id: uid(`filter-${key}`), name: key })
    );
    el.addEventListener("change", () => {
      filters[key] = el.value;
      void load();
    });
    return el;
  }

  /**
   * Replace a select's options, keeping its value.
   * @param {HTMLSelectElement} el
   * @param {[string, string][]} options value and label
   * @param {string} value
   */
  function setOptions(el, options, value) {
    el.replaceChildren(
      h("option", { value: "", text: t("all") }),
      ...options.map(([v, label]) => h("option", { value: v, text: label })),
    );
    el.value = value;
  }

  /** Labels and options in the current language. */
  function relabel() {
    heading.replaceChildren(icon("live"), h("span", { text: t("panel_events") }));
    legend.textContent = t("filters");
    labels.kind.textContent = t("filter_kind");
    labels.outcome.textContent = t("filter_outcome");
    labels.door.textContent = t("filter_door");
    labels.personKind.textContent = t("filter_person_kind");
    setOptions(
      selects.kind,
      ctx.config.record_kinds.map((k) => [k, tOr("kind_", k)]),
      filters.kind,
    );
    setOptions(
      selects.outcome,
      ["granted", "denied", "pending"].map((o) => [o, t(`outcome_${o}`)]),
      filters.outcome,
    );
    setOptions(
      selects.door,
      [...doorNames].map(([id, name]) => [id, name]),
      filters.door,
    );
    setOptions(
      selects.personKind,
      ["staff", "visitor", "contractor"].map((k) => [k, t(`person_${k}`)]),
      filters.personKind,
    );
    older.textContent = t("show_older");
    notice.textContent = noticeKey ? t(noticeKey, noticeVars) : "";
    detail.relabel();
  }

  /**
   * One row: a button that opens the record.
   * @param {Rec} rec
   * @returns {HTMLElement}
   */
  function row(rec) {
    const alarm = ALARM_KINDS.has(rec.kind);
    const outsider = rec.person_kind !== null && OUTSIDERS.has(rec.person_kind);
    const classes = ["event-row"];
    const warning = WARNING_KINDS.has(rec.kind);
    if (alarm) classes.push("is-alarm");
    if (warning) classes.push("is-warning");
    if (rec.outcome === "denied") classes.push("is-denied");
    if (outsider) classes.push("is-outsider");
    const button = h(
      "button",
      { type: "button", class: classes.join(" "), "data-seq": rec.seq, "data-kind": rec.kind },
      h("span", { class: "ev-time", text: formatTime(rec.ts) }),
      h(
        "span",
        { class: "ev-kind" },
        alarm ? icon("alarm") : warning ? icon("warning") : null,
        alarm && h("strong", { class: "tag tag-alarm", text: t("alarm") }),
        h("span", { text: tOr("kind_", rec.kind) }),
      ),
      rec.door_id &&
        h("span", { class: "ev-door", text: doorNames.get(rec.door_id) ?? rec.door_id }),
      rec.outcome &&
        h(
          "span",
          { class: `ev-outcome outcome-${rec.outcome}` },
          icon({ granted: "ok", pending: "clock" }[rec.outcome] ?? "cross", "icon icon-small"),
          h("span", { text: tOr("outcome_", rec.outcome) }),
          rec.reason && rec.outcome !== "granted"
            ? h("span", { class: "ev-reason", text: tOr("reason_", rec.reason) })
            : null,
          rec.direction &&
            h("span", { class: "ev-direction", text: tOr("direction_", rec.direction) }),
        ),
      rec.person_kind &&
        h(
          "span",
          { class: `ev-person person-${rec.person_kind}` },
          icon(outsider ? "badge" : "person", "icon icon-small"),
          h("span", { text: tOr("person_", rec.person_kind) }),
          outsider && h("strong", { class: "tag tag-outsider", text: t("outsider") }),
        ),
      rec.credential && h("span", { class: "ev-credential", text: rec.credential }),
      rec.actor &&
        h(
          "span",
          { class: "ev-actor" },
          icon("person", "icon icon-small"),
          h("span", { text: rec.actor }),
        ),
    );
    button.addEventListener("click", () => detail.open(rec.seq, doorNames));
    return h("li", {}, button);
  }

  /** Draw the list from `items`. */
  function render() {
    list.replaceChildren(...items.map(row));
    if (!items.length) list.append(h("li", { class: "feed-empty", text: t("no_events") }));
    older.hidden = nextBefore === null;
  }

  /**
   * Add records, newest first, without duplicates.
   * @param {Rec[]} recs
   */
  function merge(recs) {
    const seen = new Set(items.map((r) => r.seq));
    items = items.concat(recs.filter((r) => !seen.has(r.seq))).sort((a, b) => b.seq - a.seq);
  }

  /** The server-side filters (person kind is filtered here: the API has no such filter). */
  function query() {
    return {
      kind: filters.kind || null,
      outcome: filters.outcome || null,
      door_id: filters.door || null,
    };
  }

  /** Fetch the newest page for the current filters. */
  async function load() {
    const mine = ++generation;
    try {
      const page = await ctx.api.get("/events", { ...query(), limit: PAGE });
      if (mine !== generation) return;
      const live = items.filter((r) => matches(r, filters));
      items = [];
      merge(page.items.filter((/** @type {Rec} */ r) => matches(r, filters)));
      merge(live.filter((r) => r.seq > (page.items[0]?.seq ?? 0)));
      nextBefore = page.next_before_seq;
      noticeKey = "";
      render();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      noticeKey = "load_failed";
      noticeVars = { detail: error instanceof Error ? error.message : String(error) };
      notice.textContent = t(noticeKey, noticeVars);
    }
  }

  older.addEventListener("click", async () => {
    if (nextBefore === null) return;
    const mine = generation;
    const page = await ctx.api.get("/events", { ...query(), limit: PAGE, before_seq: nextBefore });
    if (mine !== generation) return;
    merge(page.items.filter((/** @type {Rec} */ r) => matches(r, filters)));
    nextBefore = page.next_before_seq;
    render();
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  const stops = [
    ctx.hub.on("record", (/** @type {Rec} */ rec) => {
      if (!matches(rec, filters) || items.some((r) => r.seq === rec.seq)) return;
      if (items.length && rec.seq < items[0].seq) {
        merge([rec]);
        render();
        return;
      }
      items.unshift(rec);
      list.querySelector(".feed-empty")?.remove();
      list.prepend(row(rec));
      while (items.length > KEEP) {
        items.pop();
        list.lastElementChild?.remove();
      }
    }),
    ctx.hub.on("door", (door) => {
      if (doorNames.get(door.door_id) === door.name) return;
      doorNames.set(door.door_id, door.name);
      setOptions(selects.door, [...doorNames], filters.door);
    }),
    // A (re)connected stream: fetch the newest page again, so that no record written while
    // the stream was down (or not yet up) is missing from the feed.
    ctx.hub.on("ready", () => void load()),
    onLangChange(() => {
      relabel();
      render();
    }),
  ];

  relabel();
  render();
  void ctx.api
    .get("/doors")
    .then((/** @type {{door_id: string, name: string}[]} */ doors) => {
      for (const d of doors) doorNames.set(d.door_id, d.name);
      setOptions(selects.door, [...doorNames], filters.door);
      render();
    })
    .catch(() => undefined);
  void load();
  return {
    destroy() {
      for (const stop of stops) stop();
      detail.element.close();
    },
  };
}

/**
 * The record detail dialog (GET /events/{seq}).
 * @param {import("../panels.js").PanelContext} ctx
 * @returns {{element: HTMLDialogElement, open: (seq: number, doorNames: Map<string, string>) => void, relabel: () => void}}
 */
function detailDialog(ctx) {
  const titleId = uid("event-title");
  const title = h("h2", { id: titleId });
  const body = h("div", { class: "event-detail" });
  const evidence = h("div", { class: "event-evidence" });
  const close = h("button", { type: "button", class: "btn" });
  const element = /** @type {HTMLDialogElement} */ (
    h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId, "data-dialog": "event" },
      title,
      body,
      evidence,
      h("div", { class: "dialog-buttons" }, close),
    )
  );
  /** @type {Rec | null} */
  let shown = null;
  /** @type {number | null} */
  let seqShown = null;
  /** @type {Map<string, string>} */
  let names = new Map();
  /** @type {HTMLElement | null} */
  let returnTo = null;
  /** @type {string | null} the holder's name, for roles that may read people */
  let personName = null;
  /** @type {{element: HTMLElement, relabel: () => void} | null} */
  let pictures = null;
  close.addEventListener("click", () => element.close());
  element.addEventListener("close", () => {
    if (element.open) return; // another record was opened before this event came
    seqShown = null;
    evidence.replaceChildren(); // a picture is personal data: it does not stay in the page
    pictures = null;
    returnTo?.focus();
  });

  /**
   * A field's value as shown.
   * @param {Rec} rec
   * @param {string} field
   * @returns {string}
   */
  function value(rec, field) {
    const raw = /** @type {Record<string, unknown>} */ (rec)[field];
    if (raw === null || raw === undefined || raw === "") return "—";
    if (field === "ts") return formatTime(String(raw), { date: true });
    if (field === "kind") return `${tOr("kind_", String(raw))} (${raw})`;
    if (field === "door_id") return `${names.get(String(raw)) ?? raw} (${raw})`;
    if (field === "outcome") return tOr("outcome_", String(raw));
    if (field === "reason") return `${tOr("reason_", String(raw))} (${raw})`;
    if (field === "person_kind") {
      const label = tOr("person_", String(raw));
      return OUTSIDERS.has(String(raw)) ? `${label} — ${t("outsider")}` : label;
    }
    if (field === "direction") return tOr("direction_", String(raw));
    if (field === "person_id" && personName) return `${personName} (${raw})`;
    return String(raw);
  }

  function relabel() {
    close.textContent = t("close");
    title.textContent = seqShown === null ? "" : t("event_detail_title", { seq: seqShown });
    if (shown) draw(shown);
    pictures?.relabel();
  }

  /**
   * Show a record's fields.
   * @param {Rec} rec
   */
  function draw(rec) {
    const rows = FIELDS.map((f) => [t(`field_${f}`), value(rec, f)]);
    for (const [k, v] of Object.entries(rec.detail ?? {})) {
      rows.push([`${t("field_detail")}: ${k}`, typeof v === "string" ? v : JSON.stringify(v)]);
    }
    body.replaceChildren(
      h(
        "dl",
        { class: OUTSIDERS.has(rec.person_kind ?? "") ? "is-outsider" : "" },
        ...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]),
      ),
    );
  }

  return {
    element,
    relabel,
    async open(seq, doorNames) {
      names = doorNames;
      returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      seqShown = seq;
      shown = null;
      personName = null;
      relabel();
      body.replaceChildren(h("p", { text: t("loading") }));
      evidence.replaceChildren();
      pictures = null;
      element.showModal();
      close.focus();
      try {
        const rec = await ctx.api.get(`/events/${seq}`);
        if (seqShown !== seq) return;
        shown = rec;
        draw(rec);
        if (ctx.can("cameras:read")) {
          pictures = evidenceList(ctx, seq, () => seqShown === seq);
          evidence.replaceChildren(pictures.element);
        }
        if (rec.person_id && ctx.can("people:read")) {
          const person = await ctx.api
            .get(`/people/${encodeURIComponent(rec.person_id)}`)
            .catch(() => null);
          if (seqShown !== seq || !person) return;
          personName = person.organisation ? `${person.name}, ${person.organisation}` : person.name;
          draw(rec);
        }
      } catch (error) {
        body.replaceChildren(
          h("p", {
            class: "error",
            text: t("load_failed", {
              detail: error instanceof Error ? error.message : String(error),
            }),
          }),
        );
      }
    },
  };
}

registerPanel({ id: "events", order: 20, permission: "events:read", width: "half", mount });
