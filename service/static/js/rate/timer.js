// Active time on task: counted only while the tab is visible and the rater is not idle.
// While the rater is active the lease is renewed so the item is not handed to someone else.

const IDLE_MS = 5 * 60 * 1000;
const TICK_MS = 1000;
const ACTIVITY = ["keydown", "pointerdown", "pointermove", "wheel", "scroll", "input"];

export class ActiveTimer {
  constructor(initialMs = 0) {
    this.ms = initialMs;
    this.lastActivity = Date.now();
    this.lastTick = Date.now();
    this.onActivity = () => {
      this.lastActivity = Date.now();
    };
    this.onVisibility = () => {
      // Hidden time never counts: restart the clock when the tab comes back.
      this.lastTick = Date.now();
      if (!document.hidden) this.lastActivity = Date.now();
    };
  }

  start() {
    ACTIVITY.forEach((type) =>
      document.addEventListener(type, this.onActivity, { passive: true, capture: true }),
    );
    document.addEventListener("visibilitychange", this.onVisibility);
    this.lastTick = Date.now();
    this.interval = setInterval(() => this.tick(), TICK_MS);
  }

  tick() {
    const now = Date.now();
    if (!document.hidden && now - this.lastActivity < IDLE_MS) this.ms += now - this.lastTick;
    this.lastTick = now;
  }

  value() {
    this.tick();
    return Math.round(this.ms);
  }

  stop() {
    clearInterval(this.interval);
    ACTIVITY.forEach((type) =>
      document.removeEventListener(type, this.onActivity, { capture: true }),
    );
    document.removeEventListener("visibilitychange", this.onVisibility);
  }
}

// A lease is "held" for the rater; they are warned this long before it ends (or at half
// of a lease shorter than twice that).
export const WARN_MS = 2 * 60_000;

export class LeaseKeeper {
  // Counts down from the seconds the server said were left (so a wrong clock on the
  // rater's machine does not matter) and renews the lease while the rater is active:
  // every third of the lease (at most every 5 minutes), and at the first sign of
  // activity once the warning is up or the lease has run out (the server takes an
  // expired lease back if no one else has the item). ``onState(state, msLeft)`` hears
  // "held", "warning" or "expired" every second.
  constructor(timer, leaseMinutes, secondsLeft, renew, onState) {
    this.timer = timer;
    this.renew = renew;
    this.onState = onState;
    const leaseMs = leaseMinutes * 60_000;
    this.everyMs = Math.max(30_000, Math.min(5 * 60_000, leaseMs / 3));
    this.warnMs = Math.min(WARN_MS, leaseMs / 2);
    this.lastRenew = Date.now();
    this.renewing = false;
    this.renewed(secondsLeft);
  }

  start() {
    this.interval = setInterval(() => this.tick(), 1000);
    // The first reading after the item is painted: the clock is not needed before.
    requestAnimationFrame(() => setTimeout(() => this.interval && this.tick(), 0));
  }

  left() {
    return this.deadline - performance.now();
  }

  state() {
    const left = this.left();
    return left <= 0 ? "expired" : left <= this.warnMs ? "warning" : "held";
  }

  tick() {
    const urgent = this.state() !== "held";
    const due = urgent || Date.now() - this.lastRenew >= this.everyMs;
    const active = this.timer.lastActivity > this.lastRenew && !document.hidden;
    if (due && active && !this.renewing) {
      this.lastRenew = Date.now();
      this.renewing = true;
      Promise.resolve(this.renew()).finally(() => {
        this.renewing = false;
      });
    }
    this.onState(this.state(), this.left());
  }

  renewed(secondsLeft) {
    this.deadline = performance.now() + secondsLeft * 1000;
  }

  stop() {
    clearInterval(this.interval);
    this.interval = null;
  }
}
