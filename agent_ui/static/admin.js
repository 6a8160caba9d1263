// Admin pages: plain server-rendered forms; this module only adds keyboard shortcuts and focus.
//
// Any element with data-shortcut="Alt+X" data-label="..." gets that shortcut: a link is followed, a button
// is pressed. Alt+N focuses the first field of a "new ..." form when the page has no New button. After a
// refused form, the field at fault gets the focus so the admin can correct it at once.
import { shortcut } from "./console.js";

function bindShortcuts() {
  const taken = new Set();
  for (const element of document.querySelectorAll("[data-shortcut]")) {
    const keys = element.dataset.shortcut;
    if (taken.has(keys)) continue;
    taken.add(keys);
    shortcut(keys, () => (element.tagName === "A" ? location.assign(element.href) : element.click()),
      element.dataset.label || element.textContent.trim());
  }
  const first = document.querySelector("[data-new]");
  if (first && !taken.has("Alt+N")) {
    shortcut("Alt+N", () => first.focus(), "Go to the first field of the form");
  }
}

function focusProblem() {
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
}

bindShortcuts();
focusProblem();
