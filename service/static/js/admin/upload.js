// Upload a JSON Lines file to the import API with a progress bar: the bytes sent (XHR
// upload events), then the lines the server has staged (its import batch, polled).
// Bad lines come back in the API's error envelope and are listed: line, field, reason.
const form = document.getElementById("upload-form");
const statusBox = document.getElementById("upload-status");
const bar = document.getElementById("upload-bar");
const phase = document.getElementById("upload-phase");
const errorBox = document.getElementById("upload-errors");
const csrf = document.querySelector('meta[name="csrf-token"]').content;

function say(text) {
  phase.textContent = text;
}

function showErrors(body) {
  errorBox.hidden = false;
  document.getElementById("upload-message").textContent = body.error || "The import failed.";
  const rows = errorBox.querySelector("tbody");
  rows.replaceChildren();
  for (const e of body.errors || []) {
    const tr = document.createElement("tr");
    for (const value of [e.line ?? "", e.field ?? "", e.message ?? ""]) {
      const td = document.createElement("td");
      td.textContent = String(value); // text, never HTML: the file is untrusted
      tr.append(td);
    }
    rows.append(tr);
  }
}

async function poll(state) {
  // While the server reads and publishes, show the lines it has staged so far.
  while (!state.done) {
    try {
      const r = await fetch(form.dataset.progressUrl, { headers: { Accept: "application/json" } });
      const p = await r.json();
      if (!state.done && p.state) say(`Importing: ${p.state}, ${p.staged} line(s) read…`);
    } catch {
      /* a missed poll only delays the figure */
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = document.getElementById("upload-file").files[0];
  if (!file) return;
  const button = form.querySelector("button");
  button.disabled = true;
  errorBox.hidden = true;
  statusBox.hidden = false;
  bar.value = 0;
  say(`Uploading ${file.name}…`);
  const state = { done: false };
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.dataset.url);
  xhr.setRequestHeader("Content-Type", "application/x-ndjson");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.setRequestHeader("X-CSRF-Token", csrf);
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
  });
  xhr.upload.addEventListener("load", () => {
    bar.value = 100;
    say("Uploaded; importing…");
    poll(state);
  });
  xhr.addEventListener("loadend", () => {
    state.done = true;
    button.disabled = false;
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      body = { error: `The server answered ${xhr.status}.` };
    }
    if (xhr.status === 201) {
      say(
        `Imported: ${body.created} created, ${body.updated} updated, ` +
          `${body.unchanged} unchanged (batch ${body.batch_id}).`,
      );
    } else {
      bar.value = 0;
      say("Nothing was imported.");
      showErrors(body);
    }
  });
  xhr.send(file);
});
