// Compare aids: a word-level diff between two responses, and a length hint per response.
// Both work on the text the browser already shows (the server-sanitised HTML's text),
// and build their output with text nodes only: nothing here ever parses markup.

const WORDS_PER_MINUTE = 230;
// Above this many words per side the table of the longest common subsequence gets big
// (n x m cells); such responses are rarely near-identical, so the aid says so instead.
const MAX_WORDS = 4000;

export function lengthHint(text) {
  const words = (text.match(/\S+/g) || []).length;
  const minutes = words / WORDS_PER_MINUTE;
  const reading = minutes < 1 ? "<1 min" : `~${Math.round(minutes)} min`;
  return `${words} word${words === 1 ? "" : "s"} · ${reading} read`;
}

// Split into words and the whitespace between them, keeping both (so the text
// reads as it did).
function tokens(text) {
  return text.match(/\s+|[^\s]+/g) || [];
}

// Mark, on each side, the words the other side lacks: [{text, changed}] per side, from
// a longest common subsequence of the two word lists (whitespace is never "changed").
export function wordDiff(left, right) {
  const a = tokens(left);
  const b = tokens(right);
  const aw = a.filter((t) => /\S/.test(t));
  const bw = b.filter((t) => /\S/.test(t));
  if (aw.length > MAX_WORDS || bw.length > MAX_WORDS) return null;
  const n = aw.length;
  const m = bw.length;
  const table = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i * (m + 1) + j] =
        aw[i] === bw[j]
          ? table[(i + 1) * (m + 1) + j + 1] + 1
          : Math.max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1]);
    }
  }
  const keepA = new Array(n).fill(false);
  const keepB = new Array(m).fill(false);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (aw[i] === bw[j]) {
      keepA[i] = true;
      keepB[j] = true;
      i += 1;
      j += 1;
    } else if (table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1]) i += 1;
    else j += 1;
  }
  return [mark(a, keepA), mark(b, keepB)];
}

function mark(all, keep) {
  let w = 0;
  return all.map((text) => {
    if (!/\S/.test(text)) return { text, changed: false };
    const changed = !keep[w];
    w += 1;
    return { text, changed };
  });
}

// Fill ``host`` with the marked text: text nodes, changed words in <mark>.
export function renderMarked(host, parts) {
  host.replaceChildren();
  for (const part of parts) {
    if (part.changed) {
      const m = document.createElement("mark");
      m.textContent = part.text;
      host.append(m);
    } else host.append(document.createTextNode(part.text));
  }
}
