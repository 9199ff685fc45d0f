// Admin dashboards: sortable tables and the rater × rater kappa heatmap.
// Plain ES module, no inline handlers, so it runs under a strict CSP (script-src 'self').

const LOW = -0.2; // the heatmap's colour scale: LOW is full red, 0 white, 1 full blue

function sortValue(cell) {
  const raw = cell.dataset.sortValue ?? cell.textContent.trim();
  return raw;
}

function makeSortable(table) {
  const headers = [...table.querySelectorAll("th[data-sort]")];
  headers.forEach((th) => {
    th.tabIndex = 0;
    const sort = () => {
      const numeric = th.dataset.sort === "num";
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const body = table.tBodies[0];
      const rows = [...body.rows];
      const index = [...th.parentElement.children].indexOf(th);
      rows.sort((a, b) => {
        let x = sortValue(a.cells[index]);
        let y = sortValue(b.cells[index]);
        if (numeric) {
          x = x === "" ? -Infinity : parseFloat(x.replace(/[^0-9.eE+-]/g, ""));
          y = y === "" ? -Infinity : parseFloat(y.replace(/[^0-9.eE+-]/g, ""));
          return ascending ? x - y : y - x;
        }
        return ascending ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach((row) => body.appendChild(row));
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sort();
      }
    });
  });
}

export function kappaColour(value) {
  if (value === null) return "#f3f3f1";
  if (value >= 0) {
    const t = Math.min(value, 1);
    return `rgb(${255 - 224 * t}, ${255 - 160 * t}, ${255 - 64 * t})`;
  }
  const t = Math.min(value / LOW, 1);
  return `rgb(${255 - 76 * t}, ${255 - 217 * t}, ${255 - 225 * t})`;
}

function summarise(data) {
  const median = data.median_kappa === null ? "—" : data.median_kappa.toFixed(3);
  const parts = [
    `<span data-figure="raters">${data.raters.length}</span> raters`,
    `<span data-figure="defined_pairs">${data.defined_pairs}</span> of ${data.pairs} pairs share 2 or more items`,
    `median κ <span data-figure="median_kappa">${median}</span>`,
    `compared on ${escapeHtml(data.on)}`,
  ];
  let text = parts.join(" · ") + ". Rows are ordered by mean agreement: raters who agree with nobody sit at the bottom. Click a row to open that rater.";
  if (data.reason) text = `<span class="reason" data-figure="reason">${escapeHtml(data.reason)}</span>`;
  return text;
}

function escapeHtml(text) {
  const span = document.createElement("span");
  span.textContent = text;
  return span.innerHTML;
}

function drawHeatmap(canvas, data) {
  const n = data.raters.length;
  const labelled = n <= 30;
  const margin = labelled ? 130 : 8;
  const cell = Math.max(3, Math.min(40, Math.floor(640 / Math.max(n, 1))));
  const width = margin + cell * n + (labelled ? 110 : 8); // room for the slanted column names
  const height = margin + cell * n + 8;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  const gap = cell > 6 ? 1 : 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const x = margin + j * cell;
      const y = margin + i * cell;
      const value = data.kappa[i][j];
      ctx.fillStyle = i === j ? "#c8c8c4" : kappaColour(value);
      ctx.fillRect(x, y, cell - gap, cell - gap);
      if (i !== j && value === null && cell >= 12) {
        // No value: a small cross, so "too little data" never reads as "kappa 0".
        ctx.strokeStyle = "#9a9a96";
        ctx.beginPath();
        ctx.moveTo(x + cell * 0.35, y + cell * 0.35);
        ctx.lineTo(x + cell * 0.65, y + cell * 0.65);
        ctx.moveTo(x + cell * 0.65, y + cell * 0.35);
        ctx.lineTo(x + cell * 0.35, y + cell * 0.65);
        ctx.stroke();
      }
    }
  }
  if (labelled) {
    ctx.fillStyle = "#1d1d1f";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    data.raters.forEach((r, i) => ctx.fillText(r.name.slice(0, 18), margin - 6, margin + i * cell + cell / 2));
    data.raters.forEach((r, j) => {
      ctx.save();
      ctx.translate(margin + j * cell + cell / 2, margin - 6);
      ctx.rotate(-Math.PI / 4);
      ctx.textAlign = "left";
      ctx.fillText(r.name.slice(0, 18), 0, 0);
      ctx.restore();
    });
  }
  return { margin, cell, n, width };
}

function cellAt(canvas, layout, event) {
  const rect = canvas.getBoundingClientRect();
  const scale = rect.width / layout.width;
  const x = (event.clientX - rect.left) / scale - layout.margin;
  const y = (event.clientY - rect.top) / scale - layout.margin;
  const i = Math.floor(y / layout.cell);
  const j = Math.floor(x / layout.cell);
  if (x < 0 || y < 0 || i >= layout.n || j >= layout.n) return null;
  return { i, j, x: event.clientX - rect.left, y: event.clientY - rect.top };
}

export function describeCell(data, i, j) {
  const a = data.raters[i].name;
  const b = data.raters[j].name;
  if (i === j) return `${a}`;
  const kappa = data.kappa[i][j];
  const shared = data.shared[i][j];
  if (kappa === null) {
    const why = shared < 2 ? data.missing.few_shared : data.missing.no_variance;
    return `${a} × ${b}: ${why} (${shared} shared)`;
  }
  return `${a} × ${b}: κ ${kappa.toFixed(3)} on ${shared} shared items`;
}

async function setUpHeatmap(canvas) {
  const summary = document.getElementById("kappa-summary");
  const tip = document.getElementById("kappa-tip");
  let data;
  try {
    const response = await fetch(canvas.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } });
    data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
  } catch (error) {
    summary.textContent = `Could not load the rater matrix: ${error.message}`;
    return;
  }
  summary.innerHTML = summarise(data);
  if (data.raters.length === 0) {
    canvas.hidden = true;
    return;
  }
  const layout = drawHeatmap(canvas, data);
  canvas.addEventListener("mousemove", (event) => {
    const at = cellAt(canvas, layout, event);
    if (!at) {
      tip.hidden = true;
      return;
    }
    tip.textContent = describeCell(data, at.i, at.j);
    tip.hidden = false;
    tip.style.left = `${at.x + 14}px`;
    tip.style.top = `${at.y + 14}px`;
  });
  canvas.addEventListener("mouseleave", () => {
    tip.hidden = true;
  });
  canvas.addEventListener("click", (event) => {
    const at = cellAt(canvas, layout, event);
    if (at) {
      window.location.href = canvas.dataset.raterUrl.replace(/\/0$/, `/${data.raters[at.i].id}`);
    }
  });
}

document.querySelectorAll("table.sortable").forEach(makeSortable);
const heatmap = document.getElementById("kappa-heatmap");
if (heatmap) setUpHeatmap(heatmap);

// A rater row opens that rater, an item row its adjudication: the whole row is the link's
// target (the name inside stays a real link for keyboards and new tabs).
document.querySelectorAll("tr[data-href]").forEach((row) => {
  row.addEventListener("click", (event) => {
    if (event.target.closest("a, button, input, select, label, summary")) return;
    window.location.assign(row.dataset.href);
  });
});
