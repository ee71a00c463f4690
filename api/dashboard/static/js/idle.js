/**
 * Idle logoff (4-8-6(15)): no keyboard, pointer or wheel activity for the configured time ends
 * the session, with a visible countdown before it does.
 * @module idle
 */

const ACTIVITY = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "focusin"];
const TICK_MS = 1_000;

/**
 * Watch for inactivity.
 * @param {number} limitMs log off after this long without activity
 * @param {{warn: (secondsLeft: number | null) => void, idle: () => void}} on
 *   `warn(n)` in the last stretch (n seconds left), `warn(null)` when activity resumes
 * @returns {() => void} stop
 */
export function watchIdle(limitMs, on) {
  let last = Date.now();
  let warning = false;
  // Warn for the last quarter (at most a minute), and for at least two ticks.
  const warnMs = Math.min(60_000, Math.max(limitMs / 4, 2.5 * TICK_MS));

  function active() {
    last = Date.now();
    if (warning) {
      warning = false;
      on.warn(null);
    }
  }

  function tick() {
    const left = limitMs - (Date.now() - last);
    if (left <= 0) {
      stop();
      on.idle();
    } else if (left <= warnMs) {
      warning = true;
      on.warn(Math.ceil(left / 1000));
    }
  }

  for (const type of ACTIVITY)
    document.addEventListener(type, active, { capture: true, passive: true });
  const timer = window.setInterval(tick, TICK_MS);

  function stop() {
    window.clearInterval(timer);
    for (const type of ACTIVITY) document.removeEventListener(type, active, { capture: true });
  }
  return stop;
}
