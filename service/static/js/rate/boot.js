// Ask for the rater's item as soon as the page is parsed, while the rest of the screen's
// modules still load: the first item arrives that much sooner. main.js takes the answer.

import { call } from "./api.js";

const config = JSON.parse(document.getElementById("rate-config").textContent);
const early = call("POST", config.next_url);
early.catch(() => {}); // main.js handles a failure; it is never an unhandled rejection here

let taken = false;

// The early request's promise, once; null afterwards (later items are asked for anew).
export function takeFirstItem() {
  if (taken) return null;
  taken = true;
  return early;
}
