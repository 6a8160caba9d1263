// Campaign console pages: progress bars sized from their data (no inline style: the CSP forbids it), and the
// YAML editor's line numbers, with the lines a refused save named marked and reachable from the problem list.
import { shortcut } from "/static/console.js";

for (const fill of document.querySelectorAll(".cp-bar-fill")) {
  fill.style.width = `${Math.max(0, Math.min(100, Number(fill.dataset.width) || 0))}%`;
}

const source = document.getElementById("source");
const gutter = document.getElementById("gutter");
const badLines = new Set([...document.querySelectorAll(".cp-goto")].map((b) => Number(b.dataset.line)));

function paintGutter() {
  const count = source.value.split("\n").length;
  const lines = [];
  for (let n = 1; n <= count; n += 1) {
    const span = document.createElement("span");
    span.textContent = `${n}\n`;
    if (badLines.has(n)) span.className = "bad";
    lines.push(span);
  }
  gutter.replaceChildren(...lines);
  gutter.scrollTop = source.scrollTop;
}

function goToLine(line) {
  const lines = source.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
  source.focus();
  source.setSelectionRange(start, start + (lines[line - 1] || "").length);
  const lineHeight = parseFloat(getComputedStyle(source).lineHeight) || 20;
  source.scrollTop = Math.max(0, (line - 4) * lineHeight);
}

if (source && gutter) {
  paintGutter();
  source.addEventListener("input", paintGutter);
  source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });
  for (const button of document.querySelectorAll(".cp-goto")) {
    button.addEventListener("click", () => goToLine(Number(button.dataset.line)));
  }
  shortcut("Ctrl+S", () => document.getElementById("editor-form").requestSubmit(), "Save the campaign");
}
