// Rewrite one response after the verdict: a plain-text editor, a preview rendered by the
// server's sanitiser (the same as the responses'), and the word differences from the
// original (compare.js). The server decides what may be rewritten (rating/rewrites.py);
// this page mirrors its rules only to tell the rater early.

import { call } from "./api.js";
import { renderMarked, wordDiff } from "./compare.js";

const PREVIEW_DELAY_MS = 250;
const config = JSON.parse(document.getElementById("rate-config").textContent);

// The words of a text: whitespace is never a word (the server's changed_words).
function words(text) {
  return text.split(/\s+/).filter(Boolean);
}

function sameWords(a, b) {
  const x = words(a);
  const y = words(b);
  return x.length === y.length && x.every((w, i) => w === y[i]);
}

export class RewriteEditor {
  constructor(form, data, view, onChange) {
    this.form = form;
    this.data = data; // edit ("preferred" or "any"), labels, texts, mode, scale, dims
    this.view = view;
    this.onChange = onChange;
    this.field = form.querySelector(".field.rewrite");
    this.button = this.field.querySelector(".btn-rewrite");
    this.panel = this.field.querySelector(".rewrite-panel");
    this.which = this.field.querySelector(".rewrite-which");
    this.text = this.field.querySelector(".rewrite-text");
    this.status = this.field.querySelector(".rewrite-status");
    this.preview = this.field.querySelector(".rewrite-preview");
    this.removed = this.field.querySelector(".rewrite-removed");
    this.added = this.field.querySelector(".rewrite-added");
    this.label = null; // the response being rewritten
    this.previewTimer = null;
    this.previewed = null;
    this.button.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    this.field.querySelector(".btn-rewrite-discard").addEventListener("click", () => {
      this.discard();
      this.button.focus();
    });
    this.which.addEventListener("change", () => this.choose(this.which.value));
    this.text.addEventListener("input", () => this.refresh());
    // The verdict decides which response is "preferred": keep the choice list in step.
    form.addEventListener("change", (event) => {
      if (!this.field.contains(event.target) && this.isOpen) this.fillChoices();
    });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  // Labels the rater may rewrite now: every response, or those the verdict puts first.
  allowed() {
    if (this.data.edit !== "preferred") return this.data.labels;
    const { verdict, rubric } = this.view.values();
    if (this.data.mode === "pairwise") {
      const value = verdict.choice ?? verdict.scale_value;
      if (value === "A" || (typeof value === "number" && value < 4)) return ["A"];
      if (value === "B" || (typeof value === "number" && value > 4)) return ["B"];
      return [];
    }
    if (this.data.mode === "ranking") {
      return this.view.rankingTouched && verdict.ranking?.length ? verdict.ranking[0] : [];
    }
    // Rating: the top score on the main rating dimension (the first response scale).
    const main = this.data.dims.find(
      (d) => d.scope === "response" && (d.kind === "likert" || d.kind === "number"),
    );
    if (!main) return [];
    const scores = this.data.labels
      .map((label) => [label, rubric.response[label]?.[main.name]])
      .filter(([, score]) => typeof score === "number");
    const top = Math.max(...scores.map(([, score]) => score));
    return scores.filter(([, score]) => score === top).map(([label]) => label);
  }

  fillChoices() {
    const allowed = this.allowed();
    const options = [...new Set([...allowed, ...(this.label ? [this.label] : [])])];
    this.which.replaceChildren(
      ...options.map((label) => {
        const option = document.createElement("option");
        option.value = label;
        option.textContent = `Response ${label}${allowed.includes(label) ? "" : " (no longer your preferred one)"}`;
        return option;
      }),
    );
    this.which.disabled = !options.length;
    this.text.disabled = !options.length;
    if (this.label) this.which.value = this.label;
    return allowed;
  }

  // Open the editor (the N key): on the response already chosen, else the first allowed.
  open() {
    const allowed = this.fillChoices();
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    if (!this.label && allowed.length) this.choose(allowed[0]);
    if (!this.label) {
      this.say("Choose your verdict first: you can rewrite the response you prefer.");
      this.which.focus();
    } else {
      this.text.focus({ preventScroll: true });
    }
    this.field.scrollIntoView({ block: "nearest" });
    return true;
  }

  close() {
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  choose(label) {
    const untouched = !this.label || this.text.value === this.data.texts[this.label];
    this.label = label;
    if (untouched) this.text.value = this.data.texts[label];
    this.refresh();
  }

  discard() {
    this.label = null;
    this.text.value = "";
    this.preview.replaceChildren();
    this.removed.replaceChildren();
    this.added.replaceChildren();
    this.say("");
    this.close();
    this.onChange();
  }

  say(message) {
    if (this.status.textContent !== message) this.status.textContent = message;
  }

  // After each keystroke: the changes at once, the preview once typing pauses.
  refresh() {
    if (!this.label) return;
    const original = this.data.texts[this.label];
    const text = this.text.value;
    const parts = wordDiff(original, text);
    if (parts) {
      renderMarked(this.removed, parts[0]);
      renderMarked(this.added, parts[1]);
      const changed = parts.flat().filter((p) => p.changed).length;
      this.say(
        changed
          ? `${changed} word${changed === 1 ? "" : "s"} changed in response ${this.label}.`
          : "No word changed yet: without a changed word the rewrite is not sent.",
      );
    } else {
      this.removed.textContent = "Too long to compare word by word.";
      this.added.replaceChildren();
      this.say(sameWords(original, text) ? "No word changed yet." : "Changed.");
    }
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.showPreview(text), PREVIEW_DELAY_MS);
  }

  async showPreview(text) {
    if (text === this.previewed || !this.form.isConnected) return;
    try {
      const { data } = await call("POST", config.preview_url, { text });
      if (this.text.value !== text) return; // typed on meanwhile: a later preview follows
      this.preview.innerHTML = data.html; // sanitised by the server, as the responses are
      this.previewed = text;
    } catch (err) {
      this.preview.textContent = `No preview: ${err.message}`;
    }
  }

  // The draft's state: the response and the text, whenever the text differs at all.
  values() {
    if (!this.label || this.text.value === this.data.texts[this.label]) return null;
    return { response: this.label, text: this.text.value };
  }

  // What is submitted: only a rewrite that changes a word (the server's rule).
  submission() {
    const draft = this.values();
    return draft && !sameWords(this.data.texts[draft.response], draft.text) ? draft : null;
  }

  apply(value) {
    if (!value || !(value.response in this.data.texts)) return;
    this.label = value.response;
    this.text.value = value.text;
    this.fillChoices();
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.refresh();
  }

  destroy() {
    clearTimeout(this.previewTimer);
  }
}
