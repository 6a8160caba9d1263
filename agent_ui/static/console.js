// Shared console helpers (an ES module; base.html loads it on every page).
//
//   import { api, connectSocket, shortcut } from "/static/console.js";
//
//   const agent = await api("POST", "/api/agents/1001/state", { state: "paused" });
//   const socket = connectSocket("/api/agents/1001/ws", (message) => render(message));
//   shortcut("Alt+P", () => pause(), "Pause");
//
// No inline scripts: the Content-Security-Policy allows scripts from /static only, so each page has its own
// module under /static that imports from here. Also available as window.Console.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// fetch() with the session cookie and the CSRF header; JSON in and out. Throws ApiError on a non-2xx answer
// (and sends the browser to the sign-in page when the session has ended).
export async function api(method, url, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
  const init = { method: method.toUpperCase(), headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await readBody(response);
  if (response.status === 401) signInAgain();
  if (!response.ok) {
    const message = (data && data.error) || response.statusText || "request failed";
    throw new ApiError(response.status, message, data);
  }
  return data;
}

function signInAgain() {
  window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
}

// The server closes a console's websocket with this code when the session ended (signed out, password
// reset, deactivated): reconnecting cannot help, signing in again does.
const SESSION_ENDED = 4401;
// Set when this page navigates away (e.g. its own sign-out form): that navigation wins over signInAgain().
let leaving = false;
window.addEventListener("beforeunload", () => {
  leaving = true;
});

async function readBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204) return null;
  return type.includes("application/json") ? response.json() : response.text();
}

// A websocket that reconnects with capped exponential backoff (1 s, 2 s, 4 s ... 30 s, with jitter) until
// close() is called. onMessage gets each parsed JSON message. The top bar shows the connection state.
export function connectSocket(url, onMessage, { onStatus = () => {}, maxDelay = 30000 } = {}) {
  const address = new URL(url, location.href);
  address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
  let socket = null;
  let delay = 1000;
  let timer = null;
  let closed = false;

  const status = (state) => {
    showConnection(state);
    onStatus(state);
  };

  function open() {
    status("connecting");
    socket = new WebSocket(address);
    socket.addEventListener("open", () => {
      delay = 1000;
      status("open");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn("ignoring a websocket message that is not JSON");
        return;
      }
      onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (closed) return;
      if (event.code === SESSION_ENDED) {
        closed = true;
        if (!leaving) signInAgain();
        return;
      }
      status("closed");
      const wait = Math.min(delay, maxDelay) * (0.8 + 0.4 * Math.random());
      delay = Math.min(delay * 2, maxDelay);
      timer = setTimeout(open, wait);
    });
  }

  open();
  return {
    send(message) {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close();
      status("closed");
    },
    get readyState() {
      return socket ? socket.readyState : WebSocket.CLOSED;
    },
  };
}

const CONNECTION_TEXT = { connecting: "Connecting…", open: "Live", closed: "Reconnecting…" };

function showConnection(state) {
  const element = document.getElementById("connection-status");
  if (!element) return;
  element.hidden = false;
  element.dataset.state = state;
  element.textContent = CONNECTION_TEXT[state] || state;
}

// -- keyboard shortcuts ---------------------------------------------------------------------------------
//
// shortcut("Alt+A", handler, "Answer the call"). Keys are written as modifiers (Ctrl, Alt, Shift, Meta) and
// a key name as in KeyboardEvent.key ("a", "Escape", "F2", "?"). Letters are case-insensitive. While the
// user types in a field only shortcuts with Ctrl, Alt or Meta (and Escape) fire. "?" lists them all.

const shortcuts = new Map();

export function shortcut(keys, handler, description) {
  const combo = normalizeCombo(keys);
  if (shortcuts.has(combo)) {
    throw new Error(`keyboard shortcut ${keys} is already taken by "${shortcuts.get(combo).description}"`);
  }
  shortcuts.set(combo, { keys, handler, description });
  return () => shortcuts.delete(combo);
}

export function listShortcuts() {
  return [...shortcuts.values()].map(({ keys, description }) => ({ keys, description }));
}

function normalizeCombo(keys) {
  const parts = keys.split("+").map((part) => part.trim()).filter(Boolean);
  const key = parts.pop() || "+";
  const modifiers = parts.map((part) => part.toLowerCase()).filter((m) => m !== "shift" || shiftCounts(key));
  return [...new Set(modifiers)].sort().concat(key.toLowerCase()).join("+");
}

// Shift is part of a printed symbol ("?" is Shift+/ on many layouts), so it counts only with letters and
// named keys (Shift+F2).
function shiftCounts(key) {
  return key.length > 1 || /^[a-z]$/i.test(key);
}

function comboOf(event) {
  const modifiers = [];
  if (event.altKey) modifiers.push("alt");
  if (event.ctrlKey) modifiers.push("ctrl");
  if (event.metaKey) modifiers.push("meta");
  // With Alt, some layouts print another character: use the physical key for letters and digits.
  let key = event.key;
  if ((event.altKey || event.ctrlKey) && /^(Key[A-Z]|Digit[0-9])$/.test(event.code)) {
    key = event.code.slice(-1);
  }
  if (event.shiftKey && shiftCounts(key)) modifiers.push("shift");
  return modifiers.sort().concat(key.toLowerCase()).join("+");
}

function typingIn(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKeyDown(event) {
  if (event.defaultPrevented || event.repeat) return;
  const combo = comboOf(event);
  const entry = shortcuts.get(combo);
  if (!entry) return;
  const modified = event.ctrlKey || event.altKey || event.metaKey;
  if (typingIn(event.target) && !modified && event.key !== "Escape") return;
  event.preventDefault();
  entry.handler(event);
}

// -- the "?" overlay ------------------------------------------------------------------------------------

let dialog = null;

export function toggleShortcutHelp() {
  if (dialog && dialog.open) {
    dialog.close();
    return;
  }
  dialog = dialog || buildDialog();
  fillDialog(dialog);
  dialog.showModal();
}

function buildDialog() {
  const element = document.createElement("dialog");
  element.className = "shortcuts-dialog";
  element.setAttribute("aria-labelledby", "shortcuts-title");
  document.body.append(element);
  return element;
}

function fillDialog(element) {
  element.replaceChildren();
  const title = document.createElement("h2");
  title.id = "shortcuts-title";
  title.textContent = "Keyboard shortcuts";
  const table = document.createElement("table");
  for (const { keys, description } of listShortcuts()) {
    const row = table.insertRow();
    const keyCell = document.createElement("th");
    keyCell.scope = "row";
    keys.split("+").forEach((part, index) => {
      if (index) keyCell.append(" + ");
      const kbd = document.createElement("kbd");
      kbd.textContent = part;
      keyCell.append(kbd);
    });
    row.append(keyCell);
    row.insertCell().textContent = description;
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "button";
  close.textContent = "Close";
  close.addEventListener("click", () => element.close());
  element.append(title, table, close);
}

// -- set-up on every page -------------------------------------------------------------------------------

function signOut() {
  const form = document.querySelector("form.signout");
  if (form) form.requestSubmit();
}

function goHome() {
  window.location.assign("/");
}

shortcut("?", toggleShortcutHelp, "Show or hide this list");
if (document.querySelector("form.signout")) {
  shortcut("Alt+H", goHome, "Go to your home page");
  shortcut("Alt+Shift+Q", signOut, "Sign out");
}
document.addEventListener("keydown", onKeyDown);

window.Console = { api, ApiError, connectSocket, csrfToken, shortcut, listShortcuts, toggleShortcutHelp };
