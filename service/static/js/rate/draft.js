// Drafts in localStorage, keyed by assignment id, so a reload or a crash loses nothing.
// The draft also holds the client id that makes a resubmission record one judgment.

const PREFIX = "rankroom:";
const DRAFT_DAYS = 14;

function read(key) {
  try {
    return JSON.parse(localStorage.getItem(PREFIX + key));
  } catch (err) {
    return null;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch (err) {
    // Storage full or disabled: the page still works, only without crash recovery.
  }
}

export function newClientId() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function loadDraft(assignmentId) {
  return read(`draft:${assignmentId}`);
}

export function saveDraft(assignmentId, draft) {
  write(`draft:${assignmentId}`, { ...draft, saved_at: Date.now() });
}

export function clearDraft(assignmentId) {
  localStorage.removeItem(`${PREFIX}draft:${assignmentId}`);
}

// Whether a draft's values hold any answer at all (an untouched item's do not).
export function hasAnswers(values, rankingTouched) {
  if (!values) return false;
  const filled = (v) => v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length);
  const verdict = Object.entries(values.verdict || {}).some(
    ([key, v]) => (key !== "ranking" || rankingTouched) && filled(v),
  );
  const rubric = values.rubric || {};
  const item = Object.values(rubric.item || {}).some(filled);
  const response = [rubric.response, rubric.turn].some((scope) =>
    Object.values(scope || {}).some((dims) => Object.values(dims || {}).some(filled)),
  );
  return (
    verdict || item || response || Boolean(values.both_bad) ||
    Boolean(values.spans?.length) || Boolean(values.rewrite)
  );
}

export function freshDraft() {
  return {
    client_id: newClientId(),
    started_at: new Date().toISOString(),
    active_ms: 0,
    values: null,
    ranking_touched: false,
  };
}

// The last submitted judgment of a project, for "undo / edit" within the edit window.
export function loadLast(slug) {
  return read(`last:${slug}`);
}

export function saveLast(slug, last) {
  write(`last:${slug}`, last);
}

export function clearLast(slug) {
  localStorage.removeItem(`${PREFIX}last:${slug}`);
}

export function pruneOldDrafts() {
  const cutoff = Date.now() - DRAFT_DAYS * 86400 * 1000;
  for (let i = localStorage.length - 1; i >= 0; i -= 1) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith(`${PREFIX}draft:`)) continue;
    const draft = read(key.slice(PREFIX.length));
    if (!draft || (draft.saved_at || 0) < cutoff) localStorage.removeItem(key);
  }
}
