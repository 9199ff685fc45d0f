// One item on screen: read and restore every field, check required ones, show errors
// (the page's own and the server's) next to the field they belong to.

import { lengthHint, renderMarked, wordDiff } from "./compare.js";
import { RankingBoard } from "./ranking.js";
import { SpanMarker } from "./spans.js";
import { RewriteEditor } from "./rewrite.js";
import { TurnNavigator } from "./turns.js";

const PAIRWISE_MISSING = {
  "verdict.choice": "Choose which response is better (1/A, 2/B or 0 for a tie).",
  "verdict.scale_value": "Place your preference on the 7-point scale (keys 1–7).",
};

// Run ``fn`` once the next frame has been painted.
function afterPaint(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

export class ItemView {
  constructor(form, onChange) {
    this.form = form;
    this.data = JSON.parse(form.querySelector(".item-data").textContent);
    this.onChange = onChange;
    this.summary = form.querySelector(".error-summary");
    this.rankingTouched = false;
    const rankingField = form.querySelector(".field.ranking");
    this.ranking = rankingField
      ? new RankingBoard(rankingField, this.data.labels, this.data.excerpts, () => {
          this.rankingTouched = true;
          this.clearFieldError(rankingField);
          this.onChange();
        })
      : null;
    form.addEventListener("change", (event) => {
      const field = event.target.closest("[data-field]");
      if (field) this.clearFieldError(field);
      if (field) this.closeContradiction();
      this.onChange();
    });
    form.addEventListener("input", (event) => {
      if (!event.target.closest(".contradiction")) this.onChange();
    });
    // A click on a point or an option answers that field: move on as a key would.
    form.addEventListener("click", (event) => {
      const input = event.target.closest("input[type=radio]");
      const field = input?.closest('[data-kind="likert"], [data-kind="choice"], [data-kind="verdict"]');
      if (field && event.detail > 0) this.advance(field, { scroll: false });
    });
    this.spans = this.data.span_labels ? new SpanMarker(form, this.data, () => this.onChange()) : null;
    this.rewrite = this.data.edit ? new RewriteEditor(form, this.data, this, () => this.onChange()) : null;
    this.turns = form.querySelector(".rubric-turn") ? new TurnNavigator(form, (f) => this.isFilled(f)) : null;
    this.setUpSyncScroll();
    // After the item is painted: the hints are not needed for the first look.
    afterPaint(() => this.showLengths());
    this.contradiction = form.querySelector(".contradiction");
    this.contradiction.querySelector(".btn-fix-contradiction").addEventListener("click", () => {
      this.closeContradiction();
    });
  }

  get id() {
    return this.data.id;
  }

  fields() {
    return Array.from(this.form.querySelectorAll("[data-field]"));
  }

  field(path) {
    return this.form.querySelector(`[data-field="${CSS.escape(path)}"]`);
  }

  static read(field) {
    const kind = field.dataset.kind;
    if (kind === "likert" || kind === "choice" || kind === "verdict") {
      const checked = field.querySelector("input[type=radio]:checked");
      if (!checked) return null;
      return kind === "choice" || Number.isNaN(Number(checked.value))
        ? checked.value
        : Number(checked.value);
    }
    if (kind === "flags") {
      return Array.from(field.querySelectorAll("input[type=checkbox]:checked"), (i) => i.value);
    }
    if (kind === "text") return field.querySelector("textarea").value;
    if (kind === "number") {
      const raw = field.querySelector("input").value.trim();
      return raw === "" ? null : Number(raw);
    }
    return null;
  }

  static write(field, value) {
    const kind = field.dataset.kind;
    if (kind === "likert" || kind === "choice" || kind === "verdict") {
      field.querySelectorAll("input[type=radio]").forEach((input) => {
        input.checked = value !== null && value !== undefined && input.value === String(value);
      });
    } else if (kind === "flags") {
      const chosen = new Set(value || []);
      field.querySelectorAll("input[type=checkbox]").forEach((input) => {
        input.checked = chosen.has(input.value);
      });
    } else if (kind === "text") {
      field.querySelector("textarea").value = value || "";
    } else if (kind === "number") {
      field.querySelector("input").value = value === null || value === undefined ? "" : value;
    }
  }

  // The submission body's verdict, rubric and both_bad, in position labels.
  values() {
    const rubric = { response: {}, item: {} };
    const verdict = {};
    for (const field of this.fields()) {
      const path = field.dataset.field.split(".");
      if (path[0] === "rubric") {
        const value = ItemView.read(field);
        const empty = value === null || value === "" || (Array.isArray(value) && !value.length);
        if (empty) continue;
        if (path[1] === "response" || path[1] === "turn") {
          // Per response label, or per assistant turn index (turns.js).
          rubric[path[1]] = rubric[path[1]] || {};
          rubric[path[1]][path[2]] = rubric[path[1]][path[2]] || {};
          rubric[path[1]][path[2]][path[3]] = value;
        } else {
          rubric.item[path[2]] = value;
        }
      } else if (path[0] === "verdict" && field.dataset.kind === "verdict") {
        const value = ItemView.read(field);
        if (value !== null) verdict[path[1]] = value;
      }
    }
    if (this.ranking) verdict.ranking = this.ranking.groups();
    const bothBad = this.form.querySelector(".both-bad-input");
    const out = { verdict, rubric, both_bad: bothBad ? bothBad.checked : false };
    if (this.spans) out.spans = this.spans.values();
    if (this.rewrite?.values()) out.rewrite = this.rewrite.values(); // rewrite.js
    return out;
  }

  apply(values, rankingTouched) {
    if (!values) return;
    for (const field of this.fields()) {
      const path = field.dataset.field.split(".");
      if (path[0] === "rubric") {
        const scope = values.rubric?.[path[1]] || {};
        const value = path.length > 3 ? scope[path[2]]?.[path[3]] : scope[path[2]];
        ItemView.write(field, value);
      } else if (path[0] === "verdict" && field.dataset.kind === "verdict") {
        ItemView.write(field, values.verdict?.[path[1]]);
      }
    }
    if (this.ranking && values.verdict?.ranking) {
      this.ranking.setGroups(values.verdict.ranking);
      this.rankingTouched = Boolean(rankingTouched);
    }
    const bothBad = this.form.querySelector(".both-bad-input");
    if (bothBad) bothBad.checked = Boolean(values.both_bad);
    this.spans?.apply(values.spans);
    this.rewrite?.apply(values.rewrite);
  }

  choose(value) {
    const field = this.form.querySelector('[data-kind="verdict"]');
    const input = field?.querySelector(`input[value="${CSS.escape(String(value))}"]`);
    if (!input) return false;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  toggleBothBad() {
    const box = this.form.querySelector(".both-bad-input");
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // ---- The focus model: one key per answer, then on to the next field to answer. ----

  // Fields in the order the highlight walks them: the verdict (or ranking) first, then
  // each response's rubric, then the item's.
  orderedFields() {
    const all = this.fields();
    const verdict = all.filter((f) => f.dataset.field.startsWith("verdict"));
    return [...verdict, ...all.filter((f) => !verdict.includes(f))];
  }

  isFilled(field) {
    if (field.dataset.kind === "ranking") return this.rankingTouched;
    const value = ItemView.read(field);
    return !(value === null || value === "" || (Array.isArray(value) && !value.length));
  }

  // The next required field still unanswered after ``from`` (wrapping round), if any.
  nextUnfilled(from = null, kinds = null) {
    const order = this.orderedFields().filter(
      (f) => "required" in f.dataset && (!kinds || kinds.includes(f.dataset.kind)),
    );
    const start = from ? order.indexOf(from) + 1 : 0;
    const rotated = [...order.slice(start), ...order.slice(0, start)];
    return rotated.find((f) => f !== from && !this.isFilled(f)) || null;
  }

  // Highlight the next field to answer, or the Submit button once all are answered.
  advance(from, { scroll = true } = {}) {
    const next = this.nextUnfilled(from);
    const target = next || this.form.querySelector(".btn-submit");
    if (next && next.dataset.kind === "ranking") {
      this.ranking.focus(this.ranking.nextUntyped());
    } else target.focus({ preventScroll: true });
    if (scroll) target.scrollIntoView({ block: "nearest" });
  }

  // A digit: the verdict (pairwise) or the rank of the highlighted response (ranking).
  digit(n, target) {
    if (this.data.mode === "ranking") return this.rankDigit(n, target);
    if (this.data.mode !== "pairwise") return false;
    const value =
      this.data.scale === "likert7"
        ? n === 0
          ? 4
          : n <= 7
            ? n
            : null
        : { 1: "A", 2: "B", 0: this.data.scale === "ternary" ? "tie" : null }[n];
    if (value === null || value === undefined || !this.choose(value)) return true;
    this.advance(this.form.querySelector('[data-kind="verdict"]'));
    return true;
  }

  // A or B: the same as 1 or 2 on the A/tie/B scales (on the 7-point scale, use digits).
  letter(key) {
    if (this.data.mode !== "pairwise" || this.data.scale === "likert7") return false;
    return this.digit(key === "a" ? 1 : 2);
  }

  rankDigit(n, target) {
    if (n < 1 || n > this.data.labels.length) return true; // no such rank: do nothing
    const chip = target?.closest?.(".chip");
    const label = chip ? chip.dataset.label : this.ranking.nextUntyped();
    if (!label) return true;
    this.ranking.type(label, n);
    const next = this.ranking.nextUntyped();
    if (next) this.ranking.focus(next);
    else this.advance(this.form.querySelector('[data-kind="ranking"]'));
    return true;
  }

  // The key for point (or option) ``index`` of the highlighted rubric field: the field
  // holding focus, else the first required scale or choice still to answer.
  scaleKey(index, target) {
    let field = target?.closest?.('[data-kind="likert"], [data-kind="choice"], [data-kind="flags"]');
    if (!field || !this.form.contains(field)) field = this.nextUnfilled(null, ["likert", "choice"]);
    if (!field) return false;
    const kind = field.dataset.kind;
    const input =
      kind === "likert"
        ? field.querySelector(`input[value="${index + 1}"]`)
        : field.querySelectorAll("input")[index];
    if (!input) return true; // beyond the scale: do nothing rather than something else
    input.checked = kind === "flags" ? !input.checked : true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    if (kind === "flags") field.focus({ preventScroll: true });
    else this.advance(field);
    return true;
  }

  toggleEarlierTurns() {
    const details = this.form.querySelector(".earlier-turns");
    if (!details) return false;
    details.open = !details.open;
    return true;
  }

  // ---- Compare aids ----

  showLengths() {
    if (!this.form.isConnected) return;
    this.form.querySelectorAll(".response").forEach((card) => {
      const body = card.querySelector(".response-body");
      card.querySelector(".length-hint").textContent = lengthHint(body.textContent);
    });
  }

  // Show A and B with the words the other lacks marked, or their rendered text again.
  toggleDiff() {
    const button = this.form.querySelector(".btn-diff");
    if (!button) return false;
    const cards = Array.from(this.form.querySelectorAll(".response")).slice(0, 2);
    const on = button.getAttribute("aria-pressed") !== "true";
    if (on) {
      const parts = wordDiff(
        cards[0].querySelector(".response-body").innerText,
        cards[1].querySelector(".response-body").innerText,
      );
      if (!parts) {
        button.textContent = "Too long to compare word by word";
        button.disabled = true;
        return true;
      }
      cards.forEach((card, i) => renderMarked(card.querySelector(".response-diff"), parts[i]));
    }
    button.setAttribute("aria-pressed", String(on));
    this.form.classList.toggle("diffing", on);
    cards.forEach((card) => {
      card.querySelector(".response-body").hidden = on;
      card.querySelector(".response-diff").hidden = !on;
    });
    return true;
  }

  // ---- Contradictions: the server's rule (service/rating/contradictions.py) ----

  get contradictionOpen() {
    return Boolean(this.contradiction && !this.contradiction.hidden);
  }

  askContradiction(errors) {
    this.clearErrors();
    const text = this.contradiction.querySelector(".contradiction-text");
    text.replaceChildren();
    for (const error of errors) {
      const p = document.createElement("p");
      // The API's message names its field; the page offers the button instead.
      p.textContent = error.message.replace(/ Confirm the verdict \(contradiction\.confirmed\).*$/, "");
      text.append(p);
    }
    const hint = document.createElement("p");
    hint.className = "muted small";
    hint.textContent =
      "Keep your verdict (a rationale helps whoever reviews it), or change your answers.";
    text.append(hint);
    this.contradiction.hidden = false;
    this.contradiction.scrollIntoView({ block: "nearest" });
    this.contradiction.querySelector(".contradiction-why").focus({ preventScroll: true });
  }

  closeContradiction() {
    if (!this.contradictionOpen) return;
    this.contradiction.hidden = true;
  }

  contradictionAnswer() {
    if (!this.contradictionOpen) return null;
    return {
      confirmed: true,
      rationale: this.contradiction.querySelector(".contradiction-why").value,
    };
  }

  // Problems the page can see before asking the server; the server checks everything again.
  check(confirmedRanking) {
    const errors = [];
    for (const field of this.fields()) {
      const path = field.dataset.field;
      if (!("required" in field.dataset) || field.dataset.kind === "ranking") continue;
      const value = ItemView.read(field);
      const empty = value === null || value === "" || (Array.isArray(value) && !value.length);
      if (!empty) continue;
      if (field.dataset.kind === "verdict") {
        errors.push({ field: path, message: PAIRWISE_MISSING[path] });
      } else {
        errors.push({ field: path, message: `${field.dataset.label} is required${ItemView.whose(path)}.` });
      }
    }
    if (this.ranking && !this.rankingTouched && !confirmedRanking) {
      errors.push({
        field: "verdict.ranking",
        message:
          "You have not changed the starting order (it is just the display order). " +
          "Reorder the responses, or press Submit again to keep this order as your ranking.",
        soft: true,
      });
    }
    return errors;
  }

  clearErrors() {
    this.summary.hidden = true;
    this.summary.replaceChildren();
    this.fields().forEach((field) => this.clearFieldError(field));
  }

  clearFieldError(field) {
    field.classList.remove("has-error");
    field.querySelectorAll("input, textarea").forEach((i) => i.removeAttribute("aria-invalid"));
    const slot = field.querySelector(".field-error");
    if (slot) {
      slot.hidden = true;
      slot.textContent = "";
    }
  }

  // Show errors next to their fields (matching the server's paths, or their parents),
  // with a summary on top; errors that fit no field are listed in the summary only.
  showErrors(errors, heading) {
    this.clearErrors();
    const unplaced = [];
    let first = null;
    for (const error of errors) {
      const field = this.fieldFor(error.field || "");
      if (!field) {
        unplaced.push(error);
        continue;
      }
      field.classList.add("has-error");
      field.querySelectorAll("input, textarea").forEach((i) => i.setAttribute("aria-invalid", "true"));
      const slot = field.querySelector(".field-error");
      slot.textContent = slot.textContent ? `${slot.textContent} ${error.message}` : error.message;
      slot.hidden = false;
      first = first || field;
    }
    const title = document.createElement("p");
    title.textContent =
      heading || `${errors.length} thing${errors.length === 1 ? "" : "s"} to fix before submitting:`;
    const list = document.createElement("ul");
    for (const error of errors) {
      const li = document.createElement("li");
      const field = this.fieldFor(error.field || "");
      if (field) {
        const link = document.createElement("a");
        link.href = "#";
        link.textContent = error.message.startsWith(field.dataset.label)
          ? error.message
          : `${ItemView.fieldName(field)}: ${error.message}`;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          this.focusField(field);
        });
        li.append(link);
      } else {
        li.textContent = error.field ? `${error.field}: ${error.message}` : error.message;
      }
      list.append(li);
    }
    this.summary.append(title, list);
    this.summary.hidden = false;
    if (first) this.focusField(first);
    else this.summary.focus();
    return unplaced;
  }

  showMessage(message, action = null) {
    this.clearErrors();
    const p = document.createElement("p");
    p.textContent = message;
    this.summary.append(p);
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      this.summary.append(button);
    }
    this.summary.hidden = false;
    this.summary.focus();
  }

  static fieldName(field) {
    const whose = ItemView.whose(field.dataset.field);
    return whose ? `${field.dataset.label} (${whose.slice(5)})` : field.dataset.label;
  }

  // " for response B", " for assistant turn 2" (path index 1), or "" for an item field.
  static whose(path) {
    const parts = path.split(".");
    if (parts[0] !== "rubric") return "";
    if (parts[1] === "response") return ` for response ${parts[2]}`;
    if (parts[1] === "turn") return ` for assistant turn ${Number(parts[2]) + 1}`;
    return "";
  }

  fieldFor(path) {
    // "rubric.response.B.correctness" -> that field; "verdict" -> the verdict control.
    const parts = path.split(".");
    while (parts.length) {
      const exact = this.field(parts.join("."));
      if (exact) return exact;
      const prefix = parts.join(".");
      const inside = this.fields().find((f) => f.dataset.field.startsWith(`${prefix}.`));
      if (inside && parts.length > 1) return inside;
      parts.pop();
    }
    return null;
  }

  focusField(field) {
    field.scrollIntoView({ block: "center" });
    if (field.dataset.kind === "ranking") {
      this.ranking.focus();
      return;
    }
    const target =
      field.querySelector("input:checked") || field.querySelector("input, textarea, select");
    target?.focus({ preventScroll: true });
  }

  focusRanking() {
    if (this.ranking) {
      this.ranking.focus();
      this.form.querySelector(".field.ranking").scrollIntoView({ block: "nearest" });
    }
  }

  setUpSyncScroll() {
    const toggle = this.form.querySelector(".sync-scroll");
    if (!toggle) return;
    const bodies = Array.from(this.form.querySelectorAll(".response-body"));
    let syncing = false;
    bodies.forEach((body) => {
      body.addEventListener(
        "scroll",
        () => {
          if (!toggle.checked || syncing) return;
          syncing = true;
          const room = body.scrollHeight - body.clientHeight;
          const ratio = room > 0 ? body.scrollTop / room : 0;
          bodies.forEach((other) => {
            if (other !== body) other.scrollTop = ratio * (other.scrollHeight - other.clientHeight);
          });
          requestAnimationFrame(() => {
            syncing = false;
          });
        },
        { passive: true },
      );
    });
  }

  destroy() {
    this.ranking?.destroy();
    this.spans?.destroy();
    this.rewrite?.destroy();
  }
}
