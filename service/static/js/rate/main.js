// The rating screen: load an item, keep its draft, submit, skip, undo/edit, and the keys.

import { ApiError, call } from "./api.js";
import { takeFirstItem } from "./boot.js";
import * as drafts from "./draft.js";
import { ItemView } from "./item.js";
import { bindKeys } from "./keys.js";
import { ActiveTimer, LeaseKeeper } from "./timer.js";

const config = JSON.parse(document.getElementById("rate-config").textContent);
const host = document.getElementById("item-host");
const statusLine = document.querySelector(".status");
const editBar = document.querySelector(".edit-bar");
const guidelines = document.getElementById("guidelines-panel");
const guidelinesButton = document.querySelector(".btn-guidelines");
const shortcutsDialog = document.getElementById("shortcuts-dialog");
const skipDialog = document.getElementById("skip-dialog");
const skipForm = skipDialog.querySelector(".skip-form");
const EDIT_WINDOW_MS = config.edit_window_minutes * 60_000;

const state = {
  view: null,
  draft: null,
  timer: null,
  lease: null,
  revising: null, // the "last" record while editing a submitted judgment
  busy: false,
  rankingConfirmed: false,
  retryTimer: null, // the next try of a request the server could not take
  paused: false,
};

function say(message) {
  statusLine.textContent = message;
}

// Send ``again`` after the server's Retry-After (1 to 60 s) while this item is shown;
// return how long that is. A retried submission keeps its client id, so it counts once.
function retryLater(err, again) {
  const seconds = Math.min(Math.max(err.retryAfter || 5, 1), 60);
  const view = state.view;
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(() => {
    if (state.view === view) again();
  }, seconds * 1000);
  return seconds;
}

function teardown() {
  clearInterval(state.saver);
  clearTimeout(state.retryTimer);
  state.paused = false;
  state.timer?.stop();
  state.lease?.stop();
  showLease(null);
  state.view?.destroy();
  Object.assign(state, { view: null, draft: null, timer: null, lease: null, revising: null });
  state.rankingConfirmed = false;
}

function persist() {
  if (!state.view || state.revising) return;
  state.draft.values = state.view.values();
  state.draft.ranking_touched = state.view.rankingTouched;
  state.draft.active_ms = state.timer.value();
  drafts.saveDraft(state.view.id, state.draft);
}

function show(fragment, revising = null) {
  teardown();
  host.innerHTML = fragment.html; // server-rendered and sanitised
  const form = host.querySelector("form.item");
  if (!form) {
    say(fragment.message || "");
    return;
  }
  const view = new ItemView(form, () => persist());
  state.view = view;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  form.querySelector(".btn-skip-item").addEventListener("click", openSkip);
  form.querySelector(".btn-confirm-contradiction").addEventListener("click", () => submit());
  // Enter in a one-line field must not submit by accident; Ctrl+Enter does.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && event.target.matches("input")) {
      event.preventDefault();
    }
  });
  if (revising) {
    state.revising = revising;
    editBar.hidden = true;
    // Each version records the time spent on it alone: the cost report adds up a chain.
    state.draft = { ...revising.draft, active_ms: 0 };
    form.classList.add("revising");
    form.querySelector(".revise-banner").hidden = false;
    form.querySelector(".btn-cancel-revise").addEventListener("click", () => loadNext());
    view.apply(revising.draft.values, true);
    form.querySelector(".btn-skip-item").hidden = true;
  } else {
    updateEditBar();
    const saved = drafts.loadDraft(view.id);
    state.draft = saved || drafts.freshDraft();
    if (saved?.values) view.apply(saved.values, saved.ranking_touched);
    // Only when there was something to restore: an untouched item's draft holds no answer.
    if (drafts.hasAnswers(saved?.values, saved?.ranking_touched)) {
      say("Your unsaved work on this item was restored.");
    } else {
      say("");
    }
    drafts.saveDraft(view.id, state.draft);
  }
  state.timer = new ActiveTimer(state.draft.active_ms || 0);
  state.timer.start();
  state.saver = setInterval(persist, 10_000); // keeps active time across a crash too
  if (!revising && view.data.status === "active") {
    state.lease = new LeaseKeeper(
      state.timer,
      view.data.lease_minutes,
      view.data.lease_seconds_left,
      renew,
      showLease,
    );
    state.lease.start();
  }
  window.scrollTo(0, 0);
  // Focus the new item itself, so Tab starts at its top and no old control keeps focus.
  form.tabIndex = -1;
  form.focus({ preventScroll: true });
}

async function loadNext() {
  try {
    const { data } = await (takeFirstItem() || call("POST", config.next_url));
    show(data);
  } catch (err) {
    host.replaceChildren();
    const p = document.createElement("p");
    p.className = "card error";
    p.setAttribute("role", "alert");
    p.textContent = `Could not load the next item: ${err.message}`;
    if (err instanceof ApiError && err.unavailable) {
      const seconds = retryLater(err, loadNext);
      p.textContent = `The server cannot hand out items right now; trying again in ${seconds} s.`;
    }
    host.append(p);
  }
}

async function renew() {
  const view = state.view;
  if (!view) return;
  try {
    const { data } = await call("POST", `${config.api}/assignments/${view.id}/renew`);
    if (state.view === view) state.lease?.renewed(data.seconds_left);
  } catch (err) {
    if (state.view !== view || !(err.status === 409 || err.status === 404)) return;
    // The item is no longer this rater's: nothing typed here can be saved any more.
    state.lease?.stop();
    showLease(null);
    drafts.clearDraft(view.id);
    view.showMessage(
      `${err.message} Your answers on this item cannot be saved, so its draft was discarded.`,
      { label: "Load the next item", run: () => loadNext() },
    );
  }
}

const leaseClock = document.querySelector(".lease-clock");

function clockText(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  if (seconds > 120) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

const LEASE_WARNINGS = {
  warning:
    "Your hold on this item ends in under 2 minutes. Any key or mouse movement renews it; " +
    "if it ends, the item may go to another rater.",
  expired:
    "Your hold on this item has expired. Your answers are still here and kept in this " +
    "browser. Submit now: if no other rater has taken the item, your judgment counts; " +
    "if one has, you will be told and can move on (the draft is then discarded).",
};

// Show how long the rater still holds the item (state null: no lease to show).
function showLease(leaseState, msLeft = 0) {
  leaseClock.hidden = !leaseState;
  leaseClock.classList.toggle("urgent", leaseState === "warning" || leaseState === "expired");
  if (leaseState) {
    leaseClock.textContent =
      leaseState === "expired"
        ? "Hold on this item expired"
        : `Item held for you: ${clockText(msLeft)}`;
  }
  const box = state.view?.form.querySelector(".lease-warning");
  if (!box) return;
  const message = LEASE_WARNINGS[leaseState] || "";
  // Set once per change, so screen readers announce it once, not every second.
  if (box.textContent !== message) box.textContent = message;
  box.hidden = !message;
  box.classList.toggle("expired", leaseState === "expired");
}

function payload() {
  const values = state.view.values();
  const contradiction = state.view.contradictionAnswer();
  const rewrite = state.view.rewrite?.submission(); // only one that changes a word
  return {
    ...(contradiction ? { contradiction } : {}),
    ...(rewrite ? { rewrite } : {}),
    client_id: state.draft.client_id,
    verdict: values.verdict,
    rubric: values.rubric,
    both_bad: values.both_bad,
    ...(values.spans ? { spans: values.spans } : {}),
    active_ms: state.timer.value(),
    started_at: state.draft.started_at,
  };
}

async function submit() {
  const view = state.view;
  if (!view || state.busy) return;
  const problems = view.check(state.rankingConfirmed);
  if (problems.length) {
    view.showErrors(problems);
    if (problems.every((p) => p.soft)) state.rankingConfirmed = true;
    return;
  }
  persist();
  state.busy = true;
  const button = view.form.querySelector(".btn-submit");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const revising = state.revising;
    const body = payload();
    if (revising) body.client_id = revising.revise_client_id;
    if (revising) {
      const { data } = await call("POST", `${config.api}/judgments/${revising.judgment_id}/revise`, body);
      rememberLast(view, data, body);
      say(`Saved version ${data.version} of your judgment.`);
      await loadNext();
      return;
    }
    // The answer carries the next item too: one round trip per item.
    const { data } = await call("POST", `${config.assignment_url}${view.id}/judgment`, body);
    drafts.clearDraft(view.id);
    bumpDoneToday();
    rememberLast(view, data.judgment, body);
    // A project may show its model judges' verdicts once the rater submitted (in labels).
    const judges = (data.judges || []).map((j) => j.text).join("; ");
    say(judges ? `Judgment saved. ${judges}.` : "Judgment saved.");
    show(data.next);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const contradictions = err.errors.filter((e) => e.field === "contradiction");
    if (err.status === 422 && contradictions.length === err.errors.length && contradictions.length) {
      // The verdict and the scores disagree (the server's rule): ask, then resubmit.
      view.askContradiction(contradictions);
    } else if (err.status === 422 && err.errors.length) view.showErrors(err.errors);
    else if (err.unavailable) savingPaused(err);
    else if (err.status === 409 && !state.revising) {
      // The lease ended (expired and taken, or finished elsewhere): move on.
      view.showMessage(err.message, { label: "Load the next item", run: () => loadNext() });
    } else view.showMessage(err.message);
  } finally {
    state.busy = false;
    if (button.isConnected) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

function savingPaused(err) {
  const seconds = retryLater(err, submit);
  const why = err.status === 0 ? "could not reach the server" : "the server cannot save right now";
  const message =
    `Saving paused: ${why}. Your work is kept in this browser; ` +
    `trying again in ${seconds} s.`;
  // The first time, show it where the rater looks; after that, only update the status
  // line, so a retry never pulls focus from a field being edited.
  if (state.paused) say(message);
  else state.view.showMessage(message, { label: "Try now", run: () => submit() });
  state.paused = true;
}

function bumpDoneToday() {
  const counter = document.querySelector(".done-today");
  counter.textContent = String(Number(counter.textContent) + 1);
}

function rememberLast(view, judgment, body) {
  const last = {
    judgment_id: judgment.id,
    assignment_id: view.id,
    version: judgment.version,
    created_at: Date.parse(judgment.created_at) || Date.now(),
    revise_client_id: drafts.newClientId(),
    draft: {
      values: {
        verdict: body.verdict,
        rubric: body.rubric,
        both_bad: body.both_bad,
        spans: body.spans,
        rewrite: body.rewrite,
      },
      active_ms: body.active_ms,
      started_at: body.started_at,
    },
  };
  drafts.saveLast(config.slug, last);
  updateEditBar();
}

function lastInWindow() {
  const last = drafts.loadLast(config.slug);
  if (!last) return null;
  if (Date.now() - last.created_at > EDIT_WINDOW_MS) {
    drafts.clearLast(config.slug);
    return null;
  }
  return last;
}

let editBarTimer = null;
function updateEditBar() {
  clearTimeout(editBarTimer);
  const last = lastInWindow();
  editBar.hidden = !last;
  if (!last) return;
  const minutes = Math.max(1, Math.ceil((last.created_at + EDIT_WINDOW_MS - Date.now()) / 60_000));
  editBar.querySelector(".edit-text").textContent =
    `Last judgment saved (version ${last.version}). You can change it for about ${minutes} more minute${minutes === 1 ? "" : "s"}.`;
  editBarTimer = setTimeout(updateEditBar, 30_000);
}

async function editLast() {
  const last = lastInWindow();
  if (!last || state.busy) return;
  if (state.revising) return;
  persist();
  try {
    const { data } = await call("GET", `${config.assignment_url}${last.assignment_id}`);
    show(data, last);
    say("Editing your last judgment. Submit to save a new version.");
  } catch (err) {
    say(`Could not open your last judgment: ${err.message}`);
  }
}

function openSkip() {
  if (!state.view || state.revising) return;
  skipForm.reset();
  skipForm.querySelector(".skip-error").hidden = true;
  skipDialog.showModal();
  skipForm.querySelector("input[name=skip-reason]").focus();
}

async function confirmSkip() {
  const reason = skipForm.querySelector("input[name=skip-reason]:checked")?.value;
  const note = skipForm.querySelector("#skip-note").value;
  const error = skipForm.querySelector(".skip-error");
  const problem = !reason
    ? "Choose why you skip (1, 2 or 3)."
    : reason === "other" && !note.trim()
      ? "Say in the note why you skip."
      : null;
  if (problem) {
    error.textContent = problem;
    error.hidden = false;
    return;
  }
  try {
    await call("POST", `${config.api}/assignments/${state.view.id}/skip`, { reason, note });
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    return;
  }
  skipDialog.close();
  drafts.clearDraft(state.view.id);
  say("Item skipped; it goes back to the pool.");
  await loadNext();
}

function toggleGuidelines(open = guidelines.hidden) {
  guidelines.hidden = !open;
  guidelinesButton.setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("with-panel", open);
  if (open) guidelines.focus();
  else guidelinesButton.focus();
}

skipForm.addEventListener("submit", (event) => {
  event.preventDefault();
  confirmSkip();
});
skipForm.addEventListener("keydown", (event) => {
  if (event.target.matches("textarea")) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      confirmSkip();
    }
    return;
  }
  const index = ["1", "2", "3"].indexOf(event.key);
  if (index >= 0) {
    event.preventDefault();
    const radio = skipForm.querySelectorAll("input[name=skip-reason]")[index];
    radio.checked = true;
    radio.focus();
    if (radio.value === "other") skipForm.querySelector("#skip-note").focus();
  }
});
skipDialog.querySelector(".btn-skip-cancel").addEventListener("click", () => skipDialog.close());
guidelinesButton.addEventListener("click", () => toggleGuidelines());
guidelines.querySelector(".btn-close-guidelines").addEventListener("click", () => toggleGuidelines(false));
document.querySelector(".btn-shortcuts").addEventListener("click", () => shortcutsDialog.showModal());
editBar.querySelector(".btn-edit-last").addEventListener("click", editLast);
window.addEventListener("pagehide", persist);
document.addEventListener("visibilitychange", () => {
  if (document.hidden) persist();
});

bindKeys({
  state,
  config,
  submit,
  skip: openSkip,
  editLast,
  cancelRevise: () => state.revising && loadNext(),
  toggleGuidelines,
  guidelinesOpen: () => !guidelines.hidden,
  showShortcuts: () => shortcutsDialog.showModal(),
  // The span label picker too: while it is open, S, A, B or Ctrl+Enter must not skip,
  // change the verdict or submit without the span being labelled.
  dialogOpen: () => shortcutsDialog.open || skipDialog.open || Boolean(state.view?.spans?.isOpen),
});

drafts.pruneOldDrafts();
updateEditBar();
loadNext();
