/**
 * The alarm sound: a short two-tone chime made with Web Audio (no audio files), mutable.
 * The mute choice is remembered in localStorage.
 * @module sound
 */

const STORAGE_KEY = "sekisho.mute";

/** @type {AudioContext | null} */
let context = null;
let muted = readMuted();

/**
 * The remembered mute choice.
 * @returns {boolean}
 */
function readMuted() {
  try {
    return localStorage.getItem(STORAGE_KEY) === "1";
  } catch {
    return false;
  }
}

/**
 * Create or resume the audio context; call from a user gesture (browsers require one).
 */
export function primeAudio() {
  try {
    context ??= new AudioContext();
    if (context.state === "suspended") void context.resume();
  } catch {
    context = null; // no audio device: the alarm still shows in colour and text
  }
}

/**
 * Whether the alarm sound is muted.
 * @returns {boolean}
 */
export function isMuted() {
  return muted;
}

/**
 * Mute or unmute, and remember it.
 * @param {boolean} value
 */
export function setMuted(value) {
  muted = value;
  try {
    localStorage.setItem(STORAGE_KEY, value ? "1" : "0");
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

/**
 * Play the alarm chime unless muted.
 * @returns {boolean} whether it was played
 */
export function chime() {
  if (muted) return false;
  primeAudio();
  if (!context) return false;
  const start = context.currentTime + 0.01;
  [880, 660, 880].forEach((frequency, i) => {
    if (!context) return;
    const osc = context.createOscillator();
    const gain = context.createGain();
    const at = start + i * 0.18;
    osc.type = "square";
    osc.frequency.setValueAtTime(frequency, at);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
    osc.connect(gain).connect(context.destination);
    osc.start(at);
    osc.stop(at + 0.17);
  });
  return true;
}
