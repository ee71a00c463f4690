/**
 * Small inline SVG icons (no image files, no data: URLs): each beside text, never alone.
 * @module icons
 */

import { svg } from "./dom.js";

/** @type {Readonly<Record<string, string[]>>} path data on a 24×24 grid */
const PATHS = Object.freeze({
  locked: ["M7 10V7a5 5 0 0 1 10 0v3", "M5 10h14v11H5z", "M12 14v3"],
  unlocked: ["M7 10V7a5 5 0 0 1 9.6-2", "M5 10h14v11H5z", "M12 14v3"],
  open: ["M4 21h16", "M6 21V3h9v18", "M15 5l5 2v14", "M12 12h.01"],
  alarm: ["M12 3 2 21h20L12 3z", "M12 10v5", "M12 18h.01"],
  warning: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M12 7v6", "M12 16h.01"],
  fault: ["M4 4l16 16", "M20 4 4 20", "M3 12a9 9 0 0 1 .5-3"],
  ok: ["M4 12l5 5L20 6"],
  cross: ["M6 6l12 12", "M18 6 6 18"],
  online: [
    "M2 9a15 15 0 0 1 20 0",
    "M5 12.5a10 10 0 0 1 14 0",
    "M8.5 16a5 5 0 0 1 7 0",
    "M12 19h.01",
  ],
  offline: ["M2 9a15 15 0 0 1 20 0", "M8.5 16a5 5 0 0 1 7 0", "M3 3l18 18"],
  shield: ["M12 2 4 5v6c0 5 3.5 9 8 11 4.5-2 8-6 8-11V5l-8-3z", "M9 12l2 2 4-4"],
  plain: ["M12 2 4 5v6c0 5 3.5 9 8 11 4.5-2 8-6 8-11V5l-8-3z", "M9 9l6 6", "M15 9l-6 6"],
  person: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4 21a8 8 0 0 1 16 0"],
  badge: ["M5 3h14v18H5z", "M9 7h6", "M12 15a2 2 0 1 0 0-4 2 2 0 0 0 0 4z", "M9 18h6"],
  sound: ["M4 9h4l5-4v14l-5-4H4z", "M16 9a4 4 0 0 1 0 6", "M18.5 6.5a8 8 0 0 1 0 11"],
  mute: ["M4 9h4l5-4v14l-5-4H4z", "M16 9l5 6", "M21 9l-5 6"],
  live: ["M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z", "M6 6a8 8 0 0 0 0 12", "M18 6a8 8 0 0 1 0 12"],
  clock: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M12 7v5l3 2"],
  door: ["M6 21V3h12v18", "M3 21h18", "M14 12h.01"],
});

/**
 * An icon, hidden from assistive technology (the text beside it says the same).
 * @param {keyof typeof PATHS | string} name
 * @param {string} [className]
 * @returns {SVGElement}
 */
export function icon(name, className = "icon") {
  const paths = PATHS[name] ?? PATHS.warning;
  return svg(
    "svg",
    {
      class: className,
      viewBox: "0 0 24 24",
      width: 20,
      height: 20,
      "aria-hidden": "true",
      focusable: "false",
    },
    ...paths.map((d) => svg("path", { d })),
  );
}
