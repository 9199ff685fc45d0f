// Images in prompts and responses: a click (or Enter/Space on the focused image) zooms
// it to fill the window; another click, Enter, Space or Esc shrinks it back. Items are
// swapped in as fragments, so the handlers sit on the document.

function zoom(button, on) {
  button.closest(".item-image").classList.toggle("zoomed", on);
  button.setAttribute("aria-expanded", String(on));
  if (on) button.focus();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest(".image-zoom");
  if (!button) return;
  event.preventDefault();
  zoom(button, button.getAttribute("aria-expanded") !== "true");
});

// In the capture phase, before the page's own keys: Esc closes the zoom and nothing else.
document.addEventListener(
  "keydown",
  (event) => {
    if (event.key !== "Escape") return;
    const open = document.querySelector(".item-image.zoomed .image-zoom");
    if (!open) return;
    event.preventDefault();
    event.stopPropagation();
    zoom(open, false);
  },
  true,
);
