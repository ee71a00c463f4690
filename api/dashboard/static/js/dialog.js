/**
 * A form in a modal <dialog>: a title, what will happen, labelled fields, Cancel and a confirm
 * button. Required fields are checked here (with a message in the current language) before the
 * server is asked; the server's refusal is shown in the dialog, which then stays open. Escape
 * cancels; focus returns to where it came from. Labels follow a language switch while open.
 * Besides text, textarea, checkbox, select and radio fields, a form may have a group of
 * checkboxes (several values) and a date and time (`<input type="datetime-local">`, read as its
 * wall-clock text: the panel says which time zone it means).
 * @module dialog
 */

import { ApiError } from "./api.js";
import { h, uid } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";

/**
 * @typedef {object} Choice
 * @property {string} value
 * @property {string} label
 * @property {string} [hint]
 * @property {boolean} [disabled]
 */

/**
 * @typedef {object} FieldSpec
 * @property {string} name the value's key, and the input's name
 * @property {"text" | "textarea" | "checkbox" | "select" | "radio" | "checkboxes" | "datetime"} type
 * @property {() => string} label
 * @property {() => string} [hint] shown under the label (aria-describedby)
 * @property {boolean} [required] a non-blank text, a checked radio, a chosen option, at least
 *   one ticked box of a group, a complete date and time
 * @property {number} [maxlength]
 * @property {RegExp} [pattern] what a non-empty text must match
 * @property {() => Choice[]} [choices] options of a select, radio or checkbox group
 * @property {string | boolean | string[]} [value] the initial value (a group: the ticked values;
 *   a date and time: "YYYY-MM-DDTHH:MM")
 * @property {string} [autocomplete]
 */

/**
 * @typedef {Record<string, string | boolean | string[]>} Values
 */

/**
 * What a form's own check found wrong across its fields: the field to flag, and the message
 * (its {field} is the field's label).
 * @typedef {{field: string, key: string, vars?: Record<string, string | number>}} Problem
 */

/**
 * @typedef {object} FormSpec
 * @property {() => string} title
 * @property {() => (string | Node)[]} [body] paragraphs above the fields: what will happen
 * @property {FieldSpec[]} fields
 * @property {() => string} confirm the confirm button's text
 * @property {string} [confirmIcon]
 * @property {boolean} [danger] a red confirm button (lockdown, closing)
 * @property {(values: Values) => Problem | null} [check] a check across fields, after the
 *   required and pattern checks and before the server is asked
 * @property {(values: Values) => Promise<void>} submit throws to keep the dialog open
 * @property {() => HTMLElement | null} [returnTo] where focus goes after closing
 */

/**
 * @typedef {object} FormDialog
 * @property {HTMLDialogElement} element append it to the panel
 * @property {(spec: FormSpec) => void} open
 * @property {() => void} relabel redraw the texts in the current language
 * @property {() => void} close
 * @property {() => boolean} isOpen
 */

/**
 * The text of an error for a person: the server's detail, or the message.
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  if (error instanceof ApiError) return `${error.detail} (HTTP ${error.status})`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * A reusable form dialog; `name` becomes its data-dialog attribute.
 * @param {string} name
 * @returns {FormDialog}
 */
export function formDialog(name) {
  const titleId = uid(`${name}-title`);
  const title = h("h2", { id: titleId });
  const body = h("div", { class: "dialog-text" });
  const fieldBox = h("div", { class: "dialog-fields" });
  const error = h("p", { class: "error", role: "alert" });
  const cancel = h("button", { type: "button", class: "btn", "data-action": "cancel" });
  const confirm = h("button", {
    type: "submit",
    class: "btn btn-primary",
    "data-action": "confirm",
  });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "dialog-form", novalidate: true },
      title,
      body,
      fieldBox,
      error,
      h("div", { class: "dialog-buttons" }, cancel, confirm),
    )
  );
  const element = /** @type {HTMLDialogElement} */ (
    h("dialog", { class: "dialog", "aria-labelledby": titleId, "data-dialog": name }, form)
  );

  /** @type {FormSpec | null} */
  let spec = null;
  /** @type {HTMLElement | null} */
  let opener = null;
  /** @type {{key: string, vars?: Record<string, string | number>} | null} */
  let errorMessage = null;
  /**
   * Drawn fields: the label element and how to read, relabel and flag each.
   * @type {{spec: FieldSpec, label: HTMLElement, hint: HTMLElement | null, read: () => string | boolean | string[], relabel: () => void, focus: () => void, flag: (bad: boolean) => void}[]}
   */
  let drawn = [];

  /**
   * Build one field.
   * @param {FieldSpec} f
   */
  function field(f) {
    const id = uid(`${name}-${f.name}`);
    const hintId = f.hint ? `${id}-hint` : null;
    const hint = hintId ? h("span", { id: hintId, class: "field-hint" }) : null;
    if (f.type === "radio") {
      const legend = h("legend");
      const group = h("fieldset", { class: "dialog-radios", "data-field": f.name }, legend, hint);
      /** @type {HTMLInputElement[]} */
      let inputs = [];
      /** @type {HTMLElement[]} */
      let texts = [];
      const build = () => {
        const checked = inputs.find((i) => i.checked)?.value ?? String(f.value ?? "");
        inputs = [];
        texts = [];
        for (const old of group.querySelectorAll(".radio")) old.remove();
        for (const c of f.choices?.() ?? []) {
          const input = /** @type {HTMLInputElement} */ (
            h("input", {
              type: "radio",
              name: `${id}-r`,
              value: c.value,
              checked: c.value === checked,
              disabled: c.disabled ?? false,
            })
          );
          const text = h("span", { class: "radio-label", text: c.label });
          inputs.push(input);
          texts.push(text);
          group.append(
            h(
              "label",
              { class: "radio", "data-value": c.value },
              input,
              h("span", {}, text, c.hint && h("span", { class: "field-hint", text: c.hint })),
            ),
          );
        }
      };
      build();
      fieldBox.append(group);
      return {
        spec: f,
        label: legend,
        hint,
        read: () => inputs.find((i) => i.checked)?.value ?? "",
        relabel: build,
        focus: () =>
          (
            inputs.find((i) => i.checked && !i.disabled) ?? inputs.find((i) => !i.disabled)
          )?.focus(),
        flag: (/** @type {boolean} */ bad) => group.toggleAttribute("aria-invalid", bad),
      };
    }
    if (f.type === "checkboxes") {
      const legend = h("legend");
      const group = h(
        "fieldset",
        { class: "dialog-radios dialog-checks", "data-field": f.name },
        legend,
        hint,
      );
      /** @type {HTMLInputElement[]} */
      let inputs = [];
      const initial = Array.isArray(f.value) ? f.value : [];
      let built = false;
      const build = () => {
        const ticked = built ? inputs.filter((i) => i.checked).map((i) => i.value) : initial;
        built = true;
        inputs = [];
        for (const old of group.querySelectorAll(".radio")) old.remove();
        for (const c of f.choices?.() ?? []) {
          const input = /** @type {HTMLInputElement} */ (
            h("input", {
              type: "checkbox",
              name: `${id}-c`,
              value: c.value,
              checked: ticked.includes(c.value),
              disabled: c.disabled ?? false,
            })
          );
          inputs.push(input);
          group.append(
            h(
              "label",
              { class: "radio", "data-value": c.value },
              input,
              h(
                "span",
                {},
                h("span", { class: "radio-label", text: c.label }),
                c.hint && h("span", { class: "field-hint", text: c.hint }),
              ),
            ),
          );
        }
      };
      build();
      fieldBox.append(group);
      return {
        spec: f,
        label: legend,
        hint,
        read: () => inputs.filter((i) => i.checked).map((i) => i.value),
        relabel: build,
        focus: () => inputs.find((i) => !i.disabled)?.focus(),
        flag: (/** @type {boolean} */ bad) => group.toggleAttribute("aria-invalid", bad),
      };
    }
    const label = h("label", { for: id });
    /** @type {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} */
    let input;
    if (f.type === "textarea") {
      input = /** @type {HTMLTextAreaElement} */ (
        h("textarea", { id, name: f.name, rows: 3, maxlength: f.maxlength ?? 500 })
      );
      input.value = String(f.value ?? "");
    } else if (f.type === "select") {
      input = /** @type {HTMLSelectElement} */ (h("select", { id, name: f.name }));
    } else if (f.type === "datetime") {
      input = /** @type {HTMLInputElement} */ (
        h("input", { id, name: f.name, type: "datetime-local", step: 60 })
      );
      input.value = typeof f.value === "string" ? f.value : "";
    } else {
      input = /** @type {HTMLInputElement} */ (
        h("input", {
          id,
          name: f.name,
          type: f.type === "checkbox" ? "checkbox" : "text",
          maxlength: f.type === "text" ? (f.maxlength ?? 200) : null,
          autocomplete: f.autocomplete ?? "off",
          spellcheck: "false",
        })
      );
      if (input instanceof HTMLInputElement && f.type === "checkbox")
        input.checked = f.value === true;
      else input.value = String(f.value ?? "");
    }
    if (f.required) input.setAttribute("aria-required", "true");
    if (hintId) input.setAttribute("aria-describedby", hintId);
    const el = input;
    const fillOptions = () => {
      if (!(el instanceof HTMLSelectElement)) return;
      const current = el.value || String(f.value ?? "");
      el.replaceChildren(
        ...(f.choices?.() ?? []).map((c) =>
          h("option", { value: c.value, text: c.label, disabled: c.disabled ?? false }),
        ),
      );
      if (current) el.value = current;
    };
    fillOptions();
    const wrap =
      f.type === "checkbox"
        ? h("div", { class: "dialog-check" }, input, label, hint)
        : h("div", { class: "dialog-field" }, label, hint, input);
    wrap.dataset.field = f.name;
    fieldBox.append(wrap);
    return {
      spec: f,
      label,
      hint,
      read: () =>
        el instanceof HTMLInputElement && el.type === "checkbox" ? el.checked : el.value,
      relabel: fillOptions,
      focus: () => el.focus(),
      flag: (/** @type {boolean} */ bad) => el.toggleAttribute("aria-invalid", bad),
    };
  }

  function relabel() {
    cancel.textContent = t("cancel");
    if (!spec) return;
    title.textContent = spec.title();
    body.replaceChildren(
      ...(spec.body?.() ?? []).map((part) =>
        typeof part === "string" ? h("p", { text: part }) : part,
      ),
    );
    confirm.className = spec.danger ? "btn btn-danger" : "btn btn-primary";
    confirm.replaceChildren(
      spec.confirmIcon ? icon(spec.confirmIcon) : "",
      h("span", { text: spec.confirm() }),
    );
    for (const d of drawn) {
      d.label.textContent = d.spec.label() + (d.spec.required ? ` ${t("required_mark")}` : "");
      if (d.hint) d.hint.textContent = d.spec.hint?.() ?? "";
      d.relabel();
    }
    error.textContent = errorMessage ? t(errorMessage.key, errorMessage.vars) : "";
  }

  /**
   * The values, or null after flagging the first missing or malformed one.
   * @returns {Values | null}
   */
  function values() {
    /** @type {Values} */
    const out = {};
    for (const d of drawn) {
      const raw = d.read();
      const value = typeof raw === "string" ? raw.trim() : raw;
      const missing =
        d.spec.required &&
        (value === "" || value === false || (Array.isArray(value) && value.length === 0));
      const malformed =
        typeof value === "string" && value !== "" && d.spec.pattern && !d.spec.pattern.test(value);
      d.flag(Boolean(missing || malformed));
      if (missing || malformed) {
        errorMessage = {
          key: missing ? "field_required" : "field_malformed",
          vars: { field: d.spec.label() },
        };
        error.textContent = t(errorMessage.key, errorMessage.vars);
        d.focus();
        return null;
      }
      out[d.spec.name] = value;
    }
    return out;
  }

  cancel.addEventListener("click", () => element.close());
  element.addEventListener("close", () => {
    if (element.open) return; // reopened for another form before this event came
    const target = spec?.returnTo?.() ?? opener;
    spec = null;
    drawn = [];
    fieldBox.replaceChildren();
    if (target?.isConnected) target.focus();
    else if (opener?.isConnected) opener.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = spec;
    if (!current || confirm.hasAttribute("disabled")) return;
    const vals = values();
    if (!vals) return;
    const problem = current.check?.(vals) ?? null;
    if (problem) {
      const bad = drawn.find((d) => d.spec.name === problem.field);
      bad?.flag(true);
      errorMessage = {
        key: problem.key,
        vars: { field: bad?.spec.label() ?? problem.field, ...problem.vars },
      };
      error.textContent = t(errorMessage.key, errorMessage.vars);
      bad?.focus();
      return;
    }
    confirm.setAttribute("disabled", "");
    errorMessage = null;
    error.textContent = "";
    try {
      await current.submit(vals);
      if (spec === current) element.close();
    } catch (err) {
      if (spec !== current) return;
      errorMessage = { key: "action_failed", vars: { detail: errorText(err) } };
      error.textContent = t(errorMessage.key, errorMessage.vars);
    } finally {
      confirm.removeAttribute("disabled");
    }
  });

  return {
    element,
    relabel,
    isOpen: () => element.open,
    close: () => element.close(),
    open(next) {
      if (element.open) element.close();
      opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      spec = next;
      errorMessage = null;
      fieldBox.replaceChildren();
      drawn = next.fields.map(field);
      relabel();
      element.showModal();
      const first = drawn[0];
      if (first) first.focus();
      else confirm.focus();
    },
  };
}
