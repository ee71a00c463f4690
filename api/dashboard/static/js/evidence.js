/**
 * Camera pictures kept as evidence of a record (issue 7, 4-8-7(4)). They are personal data
 * (4-8-6(10)): the list says which pictures exist; a picture is fetched only when the operator
 * asks, the API records every view before it answers, and the picture is drawn on a canvas
 * (no blob: or data: URL, so the page's CSP stays `default-src 'self'`). It is dropped when the
 * dialog closes.
 * @module evidence
 */

import { errorText } from "./dialog.js";
import { h } from "./dom.js";
import { t, tOr } from "./i18n.js";
import { icon } from "./icons.js";
import { formatTime } from "./time.js";

/**
 * @typedef {{seq: number, kind: string, item: "snapshot" | "clip", camera_id: string | null, for_seq: number | null, ts: string, sha256: string | null, bytes: number | null, missing: string | null}} Evidence
 */

/**
 * Draw a JPEG (a Blob) on a new canvas, scaled to at most `maxWidth` CSS pixels wide.
 * @param {Blob} blob
 * @param {string} label the canvas's accessible name
 * @param {number} [maxWidth]
 * @returns {Promise<HTMLCanvasElement>}
 */
export async function pictureCanvas(blob, label, maxWidth = 480) {
  const bitmap = await createImageBitmap(blob);
  const scale = Math.min(1, maxWidth / bitmap.width);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.className = "evidence-picture";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas;
}

/**
 * The evidence of record `seq`: loaded at once, pictures on request.
 * @param {import("./panels.js").PanelContext} ctx
 * @param {number} seq
 * @param {() => boolean} current false once the dialog shows something else
 * @returns {{element: HTMLElement, relabel: () => void}}
 */
export function evidenceList(ctx, seq, current) {
  const heading = h("h3", { class: "evidence-title" });
  const list = h("ul", { class: "evidence-list" });
  const element = h("section", { class: "evidence", "data-evidence": seq }, heading, list);
  /** @type {Evidence[] | null} */
  let refs = null;
  /** @type {string | null} */
  let failure = null;
  /** @type {Map<string, HTMLCanvasElement>} pictures shown, by "seq/item" */
  const shown = new Map();

  /**
   * One picture: what it is, and a button to look at it (or the picture itself).
   * @param {Evidence} ref
   * @returns {HTMLElement}
   */
  function row(ref) {
    const key = `${ref.seq}/${ref.item}`;
    const what = t(`evidence_${ref.item}`, {
      camera: ref.camera_id ?? "—",
      time: formatTime(ref.ts, { date: true }),
    });
    const li = h(
      "li",
      { class: "evidence-item", "data-item": ref.item, "data-ref": ref.seq },
      h("span", { text: what }),
    );
    if (ref.missing) {
      li.append(
        h("span", {
          class: "hint",
          text: t("evidence_missing", { why: tOr("evidence_why_", ref.missing) }),
        }),
      );
      return li;
    }
    const picture = shown.get(key);
    if (picture) {
      li.append(picture);
      return li;
    }
    if (ref.item === "snapshot" && ctx.can("cameras:view")) {
      const button = h(
        "button",
        { type: "button", class: "btn btn-small", "data-action": "view-picture" },
        icon("live", "icon icon-small"),
        h("span", { text: t("evidence_view") }),
      );
      const status = h("span", { class: "hint", role: "status" });
      button.addEventListener("click", async () => {
        button.setAttribute("disabled", "");
        status.textContent = t("loading");
        try {
          const blob = await ctx.api.blob(`/evidence/${ref.seq}/snapshot`);
          const canvas = await pictureCanvas(blob, what);
          if (!current()) return;
          shown.set(key, canvas);
          render();
          canvas.setAttribute("tabindex", "-1");
          canvas.focus();
        } catch (error) {
          status.textContent = t("load_failed", { detail: errorText(error) });
          button.removeAttribute("disabled");
        }
      });
      li.append(button, h("span", { class: "hint", text: t("evidence_view_recorded") }), status);
    }
    return li;
  }

  function render() {
    heading.textContent = t("evidence_title");
    if (failure) list.replaceChildren(h("li", { class: "hint", text: failure }));
    else if (!refs) list.replaceChildren(h("li", { text: t("loading") }));
    else if (!refs.length)
      list.replaceChildren(h("li", { class: "hint", text: t("evidence_none") }));
    else list.replaceChildren(...refs.map(row));
  }

  ctx.api
    .get(`/evidence/${seq}`)
    .then((/** @type {Evidence[]} */ found) => {
      if (!current()) return;
      refs = found;
      render();
    })
    .catch((error) => {
      if (!current()) return;
      // No camera service on this site: nothing to say about pictures at all.
      if (error?.status === 404 && String(error.detail).includes("not configured"))
        element.hidden = true;
      failure = t("load_failed", { detail: errorText(error) });
      render();
    });
  render();
  return { element, relabel: render };
}
