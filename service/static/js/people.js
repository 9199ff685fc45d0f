// Copy an invite link with one click; falls back to selecting it for Ctrl+C.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    const said = button.parentElement.querySelector(".copied");
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      said.textContent = "Copied";
    } catch {
      said.textContent = "Selected: press Ctrl+C";
    }
  });
}
