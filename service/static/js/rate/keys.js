// Keyboard shortcuts for the rating screen. Letter and digit keys never fire while the
// rater types in a text box; Ctrl+Enter (submit) and Esc work everywhere.

const TYPING = "textarea, select, input:not([type=radio]):not([type=checkbox]), [contenteditable]";

function isTyping(target) {
  return Boolean(target && target.closest && target.closest(TYPING));
}

// A digit on a focused rubric scale picks that point of the scale (on a focused choice,
// the option in that position).
function pickOnFocusedScale(target, key) {
  if (!target.matches || !target.matches("input[type=radio]")) return false;
  const field = target.closest('[data-kind="likert"], [data-kind="choice"]');
  if (!field) return false;
  const input =
    field.dataset.kind === "likert"
      ? field.querySelector(`input[value="${key}"]`)
      : field.querySelectorAll("input[type=radio]")[Number(key) - 1];
  if (!input) return true; // a digit beyond the scale does nothing, rather than the verdict
  input.checked = true;
  input.focus();
  input.dispatchEvent(new Event("change", { bubbles: true }));
  return true;
}

function verdictKey(view, key) {
  const scale = view.data.scale;
  if (view.data.mode !== "pairwise") return false;
  if (scale === "likert7") {
    if (/^[1-7]$/.test(key)) return view.choose(Number(key));
    return key === "0" || key.toLowerCase() === "t" ? view.choose(4) : false; // "about the same"
  }
  const choice = { 1: "A", a: "A", 2: "B", b: "B", 0: "tie", t: "tie" }[key.toLowerCase()];
  return choice ? view.choose(choice) : false;
}

export function bindKeys(page) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return;
    const view = page.state.view;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      if (page.dialogOpen()) return;
      event.preventDefault();
      page.submit();
      return;
    }
    if (page.dialogOpen()) return; // dialogs handle their own keys (Esc closes them)
    if (event.key === "Escape") {
      if (page.guidelinesOpen()) page.toggleGuidelines(false);
      else if (isTyping(event.target)) event.target.blur();
      else page.cancelRevise();
      return;
    }
    if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    let handled = true;
    if (key === "?") page.showShortcuts();
    else if (key === "g" || key === "G") page.toggleGuidelines();
    else if (!view) handled = false;
    else if (key === "s" || key === "S") page.skip();
    else if (key === "u" || key === "U") page.editLast();
    else if ((key === "x" || key === "X") && view.data.mode === "pairwise") view.toggleBothBad();
    else if ((key === "r" || key === "R") && view.data.mode === "ranking") view.focusRanking();
    else if (/^[0-9]$/.test(key) && pickOnFocusedScale(event.target, key)) handled = true;
    else handled = verdictKey(view, key);
    if (handled) event.preventDefault();
  });
}
