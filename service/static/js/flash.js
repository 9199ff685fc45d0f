// Flash messages stay on the page until the reader dismisses them (no timer hides them).

document.addEventListener("click", (event) => {
  const button = event.target.closest(".flash .dismiss");
  if (button) button.closest(".flash").remove();
});
