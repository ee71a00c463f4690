/**
 * The dashboard's entry point: sign-in, the session (token renewal, idle logoff, live stream),
 * the header, and mounting the panels the role may see. Before sign-in the page holds nothing
 * about the site and asks the API for nothing (4-8-7(2)).
 * @module main
 */

import { watchAlarms } from "./alarms.js";
import { ApiError, createClient } from "./api.js";
import { byId, h } from "./dom.js";
import { createHub } from "./hub.js";
import { lang, onLangChange, setLang, t, translateStatic } from "./i18n.js";
import { icon } from "./icons.js";
import { watchIdle } from "./idle.js";
import { panelsFor } from "./panels.js";
import "./panels/index.js";
import { createPeople } from "./people.js";
import { clearToken, keepFresh, loadToken, saveToken, signIn } from "./session.js";
import { isMuted, primeAudio, setMuted } from "./sound.js";
import { openStream } from "./stream.js";
import { createSitePlan } from "./site.js";
import { setSiteTimeZone } from "./time.js";

/**
 * @typedef {{id: string, username: string, display_name: string, role: string, permissions: string[]}} Me
 * @typedef {{site_name: string, timezone: string, idle_logoff_minutes: number, access_token_minutes: number, record_kinds: string[]}} UiConfig
 * @typedef {{key: string, vars?: Record<string, string | number>}} Message
 */

const ui = {
  siteName: byId("site-name", HTMLElement),
  conn: byId("conn", HTMLElement),
  langSelect: byId("lang-select", HTMLSelectElement),
  mute: byId("mute", HTMLButtonElement),
  whoami: byId("whoami", HTMLElement),
  logout: byId("logout", HTMLButtonElement),
  alarmLive: byId("alarm-live", HTMLElement),
  statusLive: byId("status-live", HTMLElement),
  idleWarning: byId("idle-warning", HTMLElement),
  loginView: byId("login-view", HTMLElement),
  loginForm: byId("login-form", HTMLFormElement),
  loginMessage: byId("login-message", HTMLElement),
  loginError: byId("login-error", HTMLElement),
  username: byId("username", HTMLInputElement),
  password: byId("password", HTMLInputElement),
  signInButton: byId("sign-in", HTMLButtonElement),
  dashboard: byId("dashboard", HTMLElement),
};

/**
 * One signed-in session: everything that must stop and vanish at logoff.
 * @typedef {object} Live
 * @property {import("./session.js").Token} token
 * @property {Me | null} me
 * @property {UiConfig | null} config
 * @property {(() => void)[]} stops
 */

/** @type {Live | null} */
let live = null;
/** @type {Message | null} */
let loginMessage = null;
/** @type {Message | null} */
let loginError = null;
/** @type {string | null} */
let connStatus = null;

/**
 * Say something in a live region; clearing first makes a repeated message heard again.
 * @param {HTMLElement} region
 * @param {string} text
 */
function say(region, text) {
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** Relabel what the header shows for the session (after sign-in or a language switch). */
function renderHeader() {
  ui.langSelect.value = lang();
  const muted = isMuted();
  ui.mute.setAttribute("aria-pressed", String(muted));
  ui.mute.replaceChildren(
    icon(muted ? "mute" : "sound"),
    h("span", { text: t(muted ? "sound_off" : "sound_on") }),
  );
  if (live?.me && live.config) {
    ui.siteName.textContent = live.config.site_name;
    ui.whoami.replaceChildren(
      icon("person"),
      h("span", {
        text: t("signed_in_as", {
          name: live.me.display_name || live.me.username,
          role: t(`role_${live.me.role}`),
        }),
      }),
    );
  }
  if (connStatus) {
    const iconName = connStatus === "live" ? "live" : "offline";
    ui.conn.dataset.status = connStatus;
    ui.conn.replaceChildren(icon(iconName), h("span", { text: t(`conn_${connStatus}`) }));
  }
  ui.loginMessage.textContent = loginMessage ? t(loginMessage.key, loginMessage.vars) : "";
  ui.loginError.textContent = loginError ? t(loginError.key, loginError.vars) : "";
}

/**
 * Show the sign-in form (the page then holds nothing about the site).
 * @param {Message | null} message
 */
function showLogin(message) {
  loginMessage = message;
  ui.dashboard.hidden = true;
  ui.loginView.hidden = false;
  for (const el of [ui.logout, ui.mute, ui.whoami, ui.conn]) el.hidden = true;
  renderHeader();
  ui.username.focus();
}

/**
 * End the session: stop the stream, timers and panels, forget the token, clear the page.
 * @param {Message | null} message shown on the sign-in form
 */
function endSession(message) {
  const ending = live;
  live = null;
  if (ending) {
    for (const stop of ending.stops.reverse()) {
      try {
        stop();
      } catch (error) {
        console.error("stopping failed", error);
      }
    }
  }
  clearToken();
  connStatus = null;
  ui.dashboard.replaceChildren();
  ui.siteName.textContent = "";
  ui.whoami.replaceChildren();
  ui.conn.replaceChildren();
  ui.idleWarning.hidden = true;
  ui.idleWarning.textContent = "";
  ui.alarmLive.textContent = "";
  ui.statusLive.textContent = "";
  setSiteTimeZone("UTC");
  showLogin(message);
}

/**
 * Start a session with a token: who we are, the page settings, panels, stream, timers.
 * @param {import("./session.js").Token} token
 */
async function beginSession(token) {
  saveToken(token);
  /** @type {Live} */
  const session = { token, me: null, config: null, stops: [] };
  live = session;
  const api = createClient(
    () => session.token.token,
    () => {
      if (live === session) endSession({ key: "session_ended" });
    },
  );
  /** @type {[Me, UiConfig]} */
  const [me, config] = await Promise.all([api.get("/auth/me"), api.get("/ui/config")]);
  if (live !== session) return; // logged off meanwhile
  session.me = me;
  session.config = config;
  setSiteTimeZone(config.timezone);

  const hub = createHub();
  /** @param {string} permission */
  const can = (permission) => me.permissions.includes(permission);
  /** @type {import("./panels.js").PanelContext} */
  const ctx = {
    api,
    hub,
    can,
    config,
    me,
    people: createPeople(api, can),
    site: createSitePlan(api),
    status: (/** @type {string} */ text) => say(ui.statusLive, text),
  };
  /** @type {string[]} */
  const topics = [];
  for (const spec of panelsFor(can)) {
    topics.push(...(spec.topics ?? []));
    const section = h("section", {
      class: `panel panel-${spec.width ?? "half"}`,
      "data-panel": spec.id,
    });
    ui.dashboard.append(section);
    const handle = spec.mount(section, ctx);
    session.stops.push(() => handle.destroy());
  }

  session.stops.push(watchAlarms(hub, (text) => say(ui.alarmLive, text)));
  const stream = openStream(() => session.token.token, topics, {
    update: (topic, data) => hub.emit(topic, data),
    status: (status) => {
      connStatus = status;
      renderHeader();
    },
    check: async () => {
      await api.get("/auth/me");
    },
  });
  session.stops.push(() => stream.close());
  session.stops.push(
    keepFresh(
      () => session.token,
      (renewed) => {
        session.token = renewed;
        saveToken(renewed);
      },
      () => {
        if (live === session) endSession({ key: "session_ended" });
      },
    ),
  );
  const minutes = config.idle_logoff_minutes;
  session.stops.push(
    watchIdle(minutes * 60_000, {
      warn: (seconds) => {
        ui.idleWarning.hidden = seconds === null;
        ui.idleWarning.textContent = seconds === null ? "" : t("idle_warning", { seconds });
      },
      idle: () => {
        if (live === session)
          endSession({ key: "logged_off_idle", vars: { minutes: +minutes.toFixed(2) } });
      },
    }),
  );

  loginMessage = null;
  loginError = null;
  ui.loginView.hidden = true;
  ui.dashboard.hidden = false;
  for (const el of [ui.logout, ui.mute, ui.whoami, ui.conn]) el.hidden = false;
  renderHeader();
  if (
    !document.activeElement ||
    document.activeElement === document.body ||
    ui.loginView.contains(document.activeElement)
  ) {
    byId("main", HTMLElement).focus(); // the form is gone: start reading at the dashboard
  }
}

/**
 * The sign-in form was submitted.
 * @param {SubmitEvent} event
 */
async function onSubmit(event) {
  event.preventDefault();
  primeAudio(); // a user gesture: the alarm chime may play later
  const username = ui.username.value.trim();
  const password = ui.password.value;
  ui.password.value = "";
  loginError = null;
  ui.signInButton.disabled = true;
  ui.signInButton.textContent = t("signing_in");
  try {
    await beginSession(await signIn(username, password));
    ui.username.value = "";
  } catch (error) {
    if (live) endSession(null);
    loginError = {
      key: error instanceof ApiError && error.status === 401 ? "login_failed" : "login_unavailable",
    };
    renderHeader();
    ui.password.focus();
  } finally {
    ui.signInButton.disabled = false;
    ui.signInButton.textContent = t("sign_in");
  }
}

/** Wire the page and resume a session this tab already holds. */
function start() {
  document.documentElement.lang = lang();
  translateStatic(document);
  ui.langSelect.addEventListener("change", () => setLang(ui.langSelect.value));
  ui.loginForm.addEventListener("submit", (event) => void onSubmit(event));
  ui.logout.addEventListener("click", () => endSession({ key: "logged_off" }));
  ui.mute.addEventListener("click", () => {
    setMuted(!isMuted());
    if (!isMuted()) primeAudio();
    renderHeader();
  });
  onLangChange(() => renderHeader());
  const saved = loadToken();
  if (saved) {
    beginSession(saved).catch(() => {
      if (live) endSession({ key: "session_ended" });
    });
  } else {
    showLogin(null);
  }
}

start();
