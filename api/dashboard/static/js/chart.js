/**
 * Bar charts drawn as inline SVG (no chart library). Each chart is a figure with a caption, an
 * SVG that screen readers read as one image with a summary, a tooltip (<title>) per bar, and
 * the same numbers in a visually hidden table.
 * @module chart
 */

import { h, svg, uid } from "./dom.js";
import { t } from "./i18n.js";

/**
 * @typedef {{key: string, label: string, className: string, pattern?: boolean}} Series
 * @typedef {{label: string, values: number[]}} Row
 */

/**
 * A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
 * @param {number} max
 * @returns {number}
 */
export function niceMax(max) {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * A hatch pattern, so that a series is told apart by texture as well as colour.
 * @param {string} id
 * @param {string} className
 * @returns {SVGElement}
 */
function hatch(id, className) {
  return svg(
    "pattern",
    { id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, class: `${className} hatch-bg` }),
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: `${className} hatch-line` }),
  );
}

/**
 * The data table behind a chart, for screen readers.
 * @param {string} caption
 * @param {string} firstHeader
 * @param {Series[]} series
 * @param {Row[]} rows
 * @returns {HTMLElement}
 */
function dataTable(caption, firstHeader, series, rows) {
  return h(
    "table",
    { class: "sr-only" },
    h("caption", { text: caption }),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", text: firstHeader }),
        ...series.map((s) => h("th", { scope: "col", text: s.label })),
      ),
    ),
    h(
      "tbody",
      {},
      ...rows.map((r) =>
        h(
          "tr",
          {},
          h("th", { scope: "row", text: r.label }),
          ...r.values.map((v) => h("td", { text: v })),
        ),
      ),
    ),
  );
}

/**
 * A figure holding a chart.
 * @param {string} caption
 * @param {number} total
 * @param {Element} graphic
 * @param {HTMLElement} table
 * @param {Series[]} series shown as a legend when there are several
 * @param {string} chartId
 * @param {string} name the figure's data-chart attribute
 * @returns {HTMLElement}
 */
function figure(caption, total, graphic, table, series, chartId, name) {
  const captionId = uid("chart-caption");
  graphic.setAttribute("aria-labelledby", captionId);
  const legend =
    series.length > 1
      ? h(
          "ul",
          { class: "legend" },
          ...series.map((s) =>
            h(
              "li",
              {},
              svg(
                "svg",
                { width: 14, height: 14, "aria-hidden": "true", class: "legend-key" },
                svg("rect", {
                  width: 14,
                  height: 14,
                  class: s.pattern ? "hatched" : s.className,
                  fill: s.pattern ? `url(#${chartId}-${s.key})` : null,
                }),
              ),
              h("span", { text: s.label }),
            ),
          ),
        )
      : null;
  return h(
    "figure",
    { class: "chart", "data-chart": name, "data-total": total },
    h(
      "figcaption",
      { id: captionId },
      h("span", { class: "chart-title", text: caption }),
      h("span", { class: "chart-total", text: t("chart_total", { n: total }) }),
    ),
    legend,
    total === 0 ? h("p", { class: "chart-empty", text: t("chart_no_data") }) : null,
    graphic,
    table,
  );
}

/**
 * Vertical bars, one per label (e.g. hours of the day).
 * @param {{name: string, caption: string, labels: string[], values: number[], className: string, axisLabel: string, tickEvery?: number}} spec
 * @returns {HTMLElement}
 */
export function columnChart(spec) {
  const width = 480;
  const height = 180;
  const left = 32;
  const bottom = 22;
  const top = 8;
  const plotH = height - bottom - top;
  const plotW = width - left - 4;
  const max = niceMax(Math.max(0, ...spec.values));
  const step = plotW / Math.max(1, spec.values.length);
  const tickEvery = spec.tickEvery ?? 1;
  const total = spec.values.reduce((a, b) => a + b, 0);
  const graphic = svg(
    "svg",
    {
      class: "chart-svg",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      preserveAspectRatio: "xMidYMid meet",
    },
    ...(max % 2 === 0 ? [0, 0.5, 1] : [0, 1]).map((f) => {
      const y = top + plotH * (1 - f);
      return svg(
        "g",
        { class: "grid" },
        svg("line", { x1: left, x2: width - 4, y1: y, y2: y }),
        svg("text", { x: left - 4, y: y + 4, "text-anchor": "end", text: Math.round(max * f) }),
      );
    }),
    ...spec.values.map((v, i) => {
      const barH = (v / max) * plotH;
      const x = left + i * step;
      return svg(
        "g",
        { class: "bar" },
        svg(
          "rect",
          {
            x: x + step * 0.12,
            y: top + plotH - barH,
            width: step * 0.76,
            height: Math.max(barH, v > 0 ? 1 : 0),
            class: spec.className,
          },
          svg("title", { text: t("chart_bar_title", { label: spec.labels[i], n: v }) }),
        ),
        i % tickEvery === 0
          ? svg("text", {
              x: x + step / 2,
              y: height - 6,
              "text-anchor": "middle",
              class: "tick",
              text: spec.labels[i],
            })
          : null,
      );
    }),
  );
  const series = [{ key: "n", label: t("chart_count"), className: spec.className }];
  const rows = spec.labels.map((label, i) => ({ label, values: [spec.values[i]] }));
  return figure(
    spec.caption,
    total,
    graphic,
    dataTable(spec.caption, spec.axisLabel, series, rows),
    [],
    uid("chart"),
    spec.name,
  );
}

/**
 * Horizontal bars, one row per label, stacked by series (e.g. forced and held per door).
 * @param {{name: string, caption: string, rows: Row[], series: Series[], axisLabel: string}} spec
 * @returns {HTMLElement}
 */
export function barChart(spec) {
  const chartId = uid("chart");
  const width = 480;
  const rowH = 26;
  const labelW = 170;
  const valueW = 36;
  const height = Math.max(1, spec.rows.length) * rowH + 4;
  const plotW = width - labelW - valueW;
  const totals = spec.rows.map((r) => r.values.reduce((a, b) => a + b, 0));
  const max = niceMax(Math.max(0, ...totals));
  const total = totals.reduce((a, b) => a + b, 0);
  const defs = svg(
    "defs",
    {},
    ...spec.series.filter((s) => s.pattern).map((s) => hatch(`${chartId}-${s.key}`, s.className)),
  );
  const graphic = svg(
    "svg",
    {
      class: "chart-svg",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      preserveAspectRatio: "xMidYMid meet",
    },
    defs,
    ...spec.rows.map((r, i) => {
      const y = 2 + i * rowH;
      let x = labelW;
      const bars = r.values.map((v, j) => {
        const w = (v / max) * plotW;
        const s = spec.series[j];
        const rect = svg(
          "rect",
          {
            x,
            y: y + 4,
            width: w,
            height: rowH - 8,
            class: s.pattern ? "hatched" : s.className,
            fill: s.pattern ? `url(#${chartId}-${s.key})` : null,
          },
          svg("title", { text: t("chart_bar_title", { label: `${r.label} — ${s.label}`, n: v }) }),
        );
        x += w;
        return rect;
      });
      return svg(
        "g",
        { class: "bar" },
        svg(
          "text",
          {
            x: labelW - 6,
            y: y + rowH / 2 + 4,
            "text-anchor": "end",
            class: "tick",
            text: clip(r.label, 24),
          },
          svg("title", { text: r.label }),
        ),
        ...bars,
        svg("text", { x: x + 4, y: y + rowH / 2 + 4, class: "value", text: totals[i] }),
      );
    }),
  );
  return figure(
    spec.caption,
    total,
    graphic,
    dataTable(spec.caption, spec.axisLabel, spec.series, spec.rows),
    spec.series,
    chartId,
    spec.name,
  );
}

/**
 * Shorten a label to `n` characters with an ellipsis.
 * @param {string} text
 * @param {number} n
 * @returns {string}
 */
function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
