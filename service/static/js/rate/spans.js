// Error spans: select text in a response, press M (or the button), pick a label (1-9),
// optionally add a note. Spans are shown highlighted and listed under the response,
// where each can be removed.
//
// Offsets are Unicode code points into the response text exactly as stored (the server
// counts Python str indices, service/rating/spans.py). In span projects the response
// body is that text, plain: this module builds it from the raw string the page was
// given (text nodes and <mark> elements only), so the text before a selection point is
// the stored text before it, and its length is a UTF-16 offset, converted here.

// UTF-16 offset -> code points, and back. A surrogate pair is one code point.
export function toCodePoints(text, utf16) {
  let n = 0;
  for (let i = 0; i < utf16; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i += 1;
    }
    n += 1;
  }
  return n;
}

export function toUtf16(text, codePoints) {
  let i = 0;
  for (let n = 0; n < codePoints && i < text.length; n += 1) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return i;
}

// Keep a UTF-16 offset off the middle of a surrogate pair (``forward``: move past it).
function snap(text, i, forward) {
  const c = text.charCodeAt(i);
  if (i > 0 && i < text.length && c >= 0xdc00 && c <= 0xdfff) return forward ? i + 1 : i - 1;
  return i;
}

function excerpt(text, limit = 60) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= limit ? flat : `${flat.slice(0, limit - 1)}…`;
}

export class SpanMarker {
  constructor(form, data, onChange) {
    this.form = form;
    this.labels = data.span_labels;
    this.texts = data.texts;
    this.onChange = onChange;
    this.spans = []; // {response, start, end, label, note}, offsets in code points
    this.pending = null; // the last selection made in a response body
    this.picker = form.querySelector(".span-picker");
    this.bodies = {};
    form.querySelectorAll(".response").forEach((card) => {
      const label = card.dataset.label;
      this.bodies[label] = card.querySelector(".response-body");
      card.querySelector(".btn-mark-span").addEventListener("click", () => this.open(label));
    });
    this.onSelection = () => {
      const found = this.selection();
      if (found) this.pending = found;
    };
    document.addEventListener("selectionchange", this.onSelection);
    this.picker.addEventListener("keydown", (event) => this.pickerKey(event));
    const find = this.picker.querySelector(".span-find-input");
    find.addEventListener("input", () => this.findText(0));
    this.picker.querySelector(".btn-add-span").addEventListener("click", () => this.add());
    this.picker.querySelector(".btn-cancel-span").addEventListener("click", () => this.close());
    this.render();
  }

  // The current selection as a span of one response body (offsets in code points), or null.
  selection() {
    const sel = document.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    const label = Object.keys(this.bodies).find((l) =>
      this.bodies[l].contains(range.commonAncestorContainer),
    );
    if (!label) return null;
    const body = this.bodies[label];
    const text = this.texts[label];
    const before = document.createRange();
    before.setStart(body, 0);
    before.setEnd(range.startContainer, range.startOffset);
    let start = before.toString().length;
    let end = start + range.toString().length;
    // A double-clicked word brings its trailing space: marks never start or end in blanks.
    while (start < end && /\s/.test(text[start])) start += 1;
    while (end > start && /\s/.test(text[end - 1])) end -= 1;
    if (start >= end) return null;
    start = snap(text, start, false);
    end = snap(text, end, true);
    return {
      response: label,
      start: toCodePoints(text, start),
      end: toCodePoints(text, end),
      text: text.slice(start, end),
    };
  }

  get isOpen() {
    return !this.picker.hidden;
  }

  // Open the label picker for the selected text (of ``label``'s response, if given). With
  // no selection (a keyboard user cannot easily make one), the picker asks for the words.
  open(label = null) {
    const current = this.selection() || this.pending;
    this.picker.querySelector(".span-error").hidden = true;
    this.picker.querySelectorAll("input[type=radio]").forEach((r) => {
      r.checked = false;
    });
    this.picker.querySelector(".span-note").value = "";
    const find = this.picker.querySelector(".span-find");
    if (!current || (label && current.response !== label)) {
      const focused = document.activeElement?.closest?.(".response")?.dataset.label;
      this.findIn = label || (focused in this.bodies ? focused : Object.keys(this.bodies)[0]);
      this.target = null;
      this.showPicker(this.findIn);
      this.picker.querySelector(".span-quote").textContent = "";
      this.picker.querySelector(".span-find-label").textContent = this.findIn;
      find.hidden = false;
      const input = find.querySelector(".span-find-input");
      input.value = "";
      this.findText(0);
      input.focus();
      return true;
    }
    find.hidden = true;
    this.target = current;
    this.showPicker(current.response);
    this.picker.querySelector(".span-quote").textContent = excerpt(current.text);
    (this.picker.querySelector("input[type=radio]") || this.picker).focus();
    return true;
  }

  // Target the ``nth`` match (wrapping round) of the typed words in the response.
  findText(nth) {
    const words = this.picker.querySelector(".span-find-input").value.trim();
    const status = this.picker.querySelector(".span-find-status");
    const text = this.texts[this.findIn];
    const at = [];
    for (let i = words ? text.indexOf(words) : -1; i >= 0; i = text.indexOf(words, i + 1)) at.push(i);
    this.findNth = at.length ? ((nth % at.length) + at.length) % at.length : 0;
    this.target = null;
    if (!at.length) {
      status.textContent = words ? `Not found in response ${this.findIn}.` : "";
      return;
    }
    const start = at[this.findNth];
    const end = start + words.length;
    this.target = {
      response: this.findIn,
      start: toCodePoints(text, start),
      end: toCodePoints(text, end),
      text: words,
    };
    status.textContent = `Match ${this.findNth + 1} of ${at.length}: “${excerpt(text.slice(Math.max(0, start - 20), end + 20))}”. Tab to a label.`;
  }

  showPicker(label) {
    const panel = this.form.querySelector(`.span-panel[data-label="${CSS.escape(label)}"]`);
    panel.insertBefore(this.picker, panel.querySelector(".btn-mark-span"));
    this.picker.hidden = false;
  }

  close() {
    if (!this.isOpen) return;
    this.picker.hidden = true;
    const label = this.target?.response;
    this.target = null;
    if (label) this.bodies[label].focus({ preventScroll: true });
  }

  pickerKey(event) {
    const typing = event.target.matches(".span-note, .span-find-input");
    const finding = event.target.matches(".span-find-input");
    let handled = true;
    if (event.key === "Escape") this.close();
    else if (finding && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      this.findText(this.findNth + (event.key === "ArrowDown" ? 1 : -1));
    }
    else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      if (event.target.matches("button")) return; // Cancel and Add do what they say
      this.add();
    }
    else if (!typing && /^[1-9]$/.test(event.key)) {
      const radio = this.picker.querySelectorAll("input[type=radio]")[Number(event.key) - 1];
      if (radio) {
        radio.checked = true;
        this.add();
      }
    } else handled = false;
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  }

  add() {
    const error = this.picker.querySelector(".span-error");
    const label = this.picker.querySelector("input[type=radio]:checked")?.value;
    if (!this.target) {
      error.textContent = "Select text in the response, or type words it contains.";
      error.hidden = false;
      return;
    }
    if (!label) {
      error.textContent = "Choose a label (1–9).";
      error.hidden = false;
      return;
    }
    const { response, start, end } = this.target;
    const note = this.picker.querySelector(".span-note").value.trim();
    const same = this.spans.find(
      (s) => s.response === response && s.start === start && s.end === end && s.label === label,
    );
    if (!same) this.spans.push({ response, start, end, label, note });
    document.getSelection()?.removeAllRanges();
    this.pending = null;
    this.close();
    this.render();
    this.onChange();
  }

  remove(index) {
    const [gone] = this.spans.splice(index, 1);
    this.render();
    this.onChange();
    // Keep the keyboard where it was: the next span's Remove, or the mark button.
    const panel = this.form.querySelector(`.span-panel[data-label="${CSS.escape(gone.response)}"]`);
    const buttons = panel.querySelectorAll(".btn-remove-span");
    (buttons[Math.min(index, buttons.length - 1)] || panel.querySelector(".btn-mark-span")).focus();
  }

  values() {
    return this.spans.map((s) => ({ ...s }));
  }

  apply(spans) {
    const known = (s) =>
      s && s.response in this.texts && this.labels.includes(s.label) && s.start < s.end;
    this.spans = (spans || []).filter(known).map((s) => ({ ...s, note: s.note || "" }));
    this.render();
  }

  render() {
    for (const [label, body] of Object.entries(this.bodies)) {
      const mine = this.spans
        .map((s, index) => ({ ...s, index }))
        .filter((s) => s.response === label)
        .sort((a, b) => a.start - b.start || a.end - b.end);
      this.renderBody(body, this.texts[label], mine);
      this.renderList(label, mine);
    }
  }

  // The text as text nodes, each stretch some span covers in a <mark>.
  renderBody(body, text, spans) {
    const cuts = new Set([0, text.length]);
    const ranges = spans.map((s) => [toUtf16(text, s.start), toUtf16(text, s.end), s]);
    ranges.forEach(([a, b]) => cuts.add(a).add(b));
    const points = [...cuts].sort((a, b) => a - b);
    body.replaceChildren();
    for (let k = 0; k + 1 < points.length; k += 1) {
      const [a, b] = [points[k], points[k + 1]];
      const over = ranges.filter(([s, e]) => s <= a && b <= e).map(([, , span]) => span);
      const node = document.createTextNode(text.slice(a, b));
      if (!over.length) {
        body.append(node);
        continue;
      }
      const mark = document.createElement("mark");
      mark.className = "span-mark";
      mark.dataset.labels = over.map((s) => s.label).join(", ");
      mark.title = over.map((s) => (s.note ? `${s.label}: ${s.note}` : s.label)).join("\n");
      mark.append(node);
      body.append(mark);
    }
  }

  renderList(label, spans) {
    const panel = this.form.querySelector(`.span-panel[data-label="${CSS.escape(label)}"]`);
    const list = panel.querySelector(".span-list");
    list.replaceChildren();
    const text = this.texts[label];
    for (const s of spans) {
      const li = document.createElement("li");
      const chip = document.createElement("span");
      chip.className = "span-chip";
      chip.textContent = s.label;
      const quote = document.createElement("q");
      quote.textContent = excerpt(text.slice(toUtf16(text, s.start), toUtf16(text, s.end)));
      li.append(chip, " ", quote);
      if (s.note) {
        const note = document.createElement("span");
        note.className = "span-note-text muted";
        note.textContent = ` ${s.note}`;
        li.append(note);
      }
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn-remove-span";
      button.textContent = "Remove";
      button.setAttribute("aria-label", `Remove span: ${s.label}, ${quote.textContent}`);
      button.addEventListener("click", () => this.remove(s.index));
      li.append(" ", button);
      list.append(li);
    }
    panel.querySelector(".span-count").textContent = spans.length ? `(${spans.length})` : "none";
  }

  destroy() {
    document.removeEventListener("selectionchange", this.onSelection);
  }
}
