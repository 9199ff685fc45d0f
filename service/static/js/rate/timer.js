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

export class LeaseKeeper {
  // Renews every third of the lease (at most every 5 minutes) if the rater did something.
  constructor(timer, leaseMinutes, renew) {
    this.timer = timer;
    this.renew = renew;
    this.everyMs = Math.max(30_000, Math.min(5 * 60_000, (leaseMinutes * 60_000) / 3));
    this.lastRenew = Date.now();
  }

  start() {
    this.interval = setInterval(() => {
      if (this.due() && this.timer.lastActivity > this.lastRenew && !document.hidden) {
        this.lastRenew = Date.now();
        this.renew();
      }
    }, Math.min(this.everyMs, 30_000));
  }

  due() {
    return Date.now() - this.lastRenew >= this.everyMs;
  }

  stop() {
    clearInterval(this.interval);
  }
}
