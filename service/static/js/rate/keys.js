// Keyboard shortcuts for the rating screen. Every key means one thing on the whole page,
// wherever focus is: the digits are the verdict (or the rank of the highlighted
// response), the row under them (Q W E R T ...) the points of the highlighted rubric
// scale. Letter and digit keys never fire while the rater types in a text box;
// Ctrl+Enter (submit) and Esc work everywhere.

export const SCALE_KEYS = "qwertyuiop[";

const TYPING = "textarea, select, input:not([type=radio]):not([type=checkbox]), [contenteditable]";

function isTyping(target) {
  return Boolean(target && target.closest && target.closest(TYPING));
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
      else if (view?.contradictionOpen) view.closeContradiction();
      else if (isTyping(event.target)) event.target.blur();
      else page.cancelRevise();
      return;
    }
    if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    let handled = true;
    if (key === "?") page.showShortcuts();
    else if (key === "g") page.toggleGuidelines();
    else if (!view) handled = false;
    else if (key === "s") page.skip();
    else if (key === "z") page.editLast();
    else if (key === "c") handled = view.toggleEarlierTurns();
    else if (key === "d") handled = view.toggleDiff();
    else if (key === "x" && view.data.mode === "pairwise") view.toggleBothBad();
    else if (key === "m" && view.spans) handled = view.spans.open(); // spans.js
    else if (key === "n" && view.rewrite) handled = view.rewrite.open(); // rewrite.js
    else if ((key === "j" || key === "k") && view.turns) handled = view.turns.move(key === "j" ? 1 : -1); // turns.js
    else if (/^[0-9]$/.test(key)) handled = view.digit(Number(key), event.target);
    else if (SCALE_KEYS.includes(key)) handled = view.scaleKey(SCALE_KEYS.indexOf(key), event.target);
    else if (key === "a" || key === "b") handled = view.letter(key);
    else handled = false;
    if (handled) event.preventDefault();
  });
}
