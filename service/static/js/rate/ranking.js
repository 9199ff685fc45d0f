// The ranking board: responses ordered best first, in groups (a group is a shared rank).
// Drag-and-drop through SortableJS; the same moves by keyboard on a focused response.

import Sortable from "../../vendor/sortablejs/sortable.esm.js";

export class RankingModel {
  constructor(labels) {
    this.groups = labels.map((label) => [label]);
  }

  flat() {
    return this.groups.flat();
  }

  groupIndex(label) {
    return this.groups.findIndex((group) => group.includes(label));
  }

  set(groups) {
    this.groups = groups.map((group) => [...group]).filter((group) => group.length);
  }

  take(label) {
    // Remove a label from its group (dropping the group if it empties).
    const gi = this.groupIndex(label);
    this.groups[gi] = this.groups[gi].filter((l) => l !== label);
    if (!this.groups[gi].length) this.groups.splice(gi, 1);
  }

  moveUp(label) {
    const gi = this.groupIndex(label);
    const group = this.groups[gi];
    if (group.length > 1) {
      // Out of a tie first: it gets its own rank just above its former group.
      this.take(label);
      this.groups.splice(gi, 0, [label]);
      return true;
    }
    if (gi === 0) return false;
    [this.groups[gi - 1], this.groups[gi]] = [this.groups[gi], this.groups[gi - 1]];
    return true;
  }

  moveDown(label) {
    const gi = this.groupIndex(label);
    const group = this.groups[gi];
    if (group.length > 1) {
      this.take(label);
      this.groups.splice(gi + 1, 0, [label]);
      return true;
    }
    if (gi === this.groups.length - 1) return false;
    [this.groups[gi], this.groups[gi + 1]] = [this.groups[gi + 1], this.groups[gi]];
    return true;
  }

  tieWith(label, direction) {
    // Join the group of the response just above (-1) or below (+1) in the shown order.
    const flat = this.flat();
    const neighbour = flat[flat.indexOf(label) + direction];
    if (neighbour === undefined || this.groupIndex(neighbour) === this.groupIndex(label)) {
      return false;
    }
    this.take(label);
    const target = this.groups[this.groupIndex(neighbour)];
    if (direction < 0) target.push(label);
    else target.unshift(label);
    return true;
  }

  untie(label) {
    // Give a tied response its own rank just below its group.
    const gi = this.groupIndex(label);
    if (this.groups[gi].length < 2) return false;
    this.take(label);
    this.groups.splice(gi + 1, 0, [label]);
    return true;
  }

  moveTo(label, index) {
    // Put a label at `index` of the shown order (as after a drag). Dropped between two
    // tied responses it joins their tie; anywhere else it gets a rank of its own.
    this.take(label);
    const flat = this.flat();
    const before = flat[index - 1];
    const after = flat[index];
    if (before !== undefined && after !== undefined) {
      const gb = this.groupIndex(before);
      if (gb === this.groupIndex(after)) {
        const group = this.groups[gb];
        group.splice(group.indexOf(after), 0, label);
        return;
      }
    }
    const at = before === undefined ? 0 : this.groupIndex(before) + 1;
    this.groups.splice(at, 0, [label]);
  }
}

export class RankingBoard {
  constructor(fieldset, labels, excerpts, onChange) {
    this.list = fieldset.querySelector(".ranking-list");
    this.live = fieldset.querySelector(".ranking-live");
    this.labels = labels;
    this.model = new RankingModel(labels);
    // Ranks typed as digits, by label: typed responses go first, by rank (equal digits
    // tie), the others follow in their current order.
    this.typed = new Map();
    this.excerpts = excerpts || {};
    this.onChange = onChange;
    this.render();
    this.sortable = Sortable.create(this.list, {
      animation: 120,
      filter: ".tie-btn",
      preventOnFilter: false,
      ghostClass: "chip-ghost",
      chosenClass: "chip-chosen",
      onEnd: (event) => {
        if (event.oldIndex === event.newIndex) return;
        this.model.moveTo(event.item.dataset.label, event.newIndex);
        this.typed.clear(); // the order is now the one dragged, not the digits'
        this.changed(event.item.dataset.label);
      },
    });
    this.list.addEventListener("keydown", (event) => this.onKey(event));
    this.list.addEventListener("click", (event) => this.onClick(event));
  }

  groups() {
    return this.model.groups.map((group) => [...group]);
  }

  setGroups(groups) {
    const known = new Set(this.model.flat());
    const given = groups.flat();
    // A stale draft (say, of another layout) is ignored rather than half-applied.
    if (given.length !== known.size || !given.every((l) => known.has(l))) return;
    this.model.set(groups);
    this.render();
  }

  // The first response, in display order, without a typed rank.
  nextUntyped() {
    return this.labels.find((label) => !this.typed.has(label)) || null;
  }

  type(label, rank) {
    this.typed.set(label, rank);
    const typed = [...this.typed.keys()].sort((a, b) => this.typed.get(a) - this.typed.get(b));
    const groups = [];
    typed.forEach((l, i) => {
      if (i && this.typed.get(l) === this.typed.get(typed[i - 1])) groups[groups.length - 1].push(l);
      else groups.push([l]);
    });
    const rest = this.model.flat().filter((l) => !this.typed.has(l));
    this.model.set([...groups, ...rest.map((l) => [l])]);
    this.changed(label);
  }

  rankOf(label) {
    return this.model.groupIndex(label) + 1;
  }

  describe(label) {
    const group = this.model.groups[this.model.groupIndex(label)];
    const others = group.filter((l) => l !== label);
    const tie = others.length ? `, tied with ${others.join(" and ")}` : "";
    return `Response ${label}: rank ${this.rankOf(label)}${tie}`;
  }

  render() {
    const focused = document.activeElement?.closest?.(".chip")?.dataset.label;
    this.list.replaceChildren();
    this.model.groups.forEach((group, gi) => {
      group.forEach((label, i) => {
        const chip = document.createElement("li");
        chip.className = "chip";
        chip.tabIndex = 0;
        chip.dataset.label = label;
        chip.dataset.rank = String(gi + 1);
        if (group.length > 1) chip.classList.add("tied");
        if (i > 0) chip.classList.add("tied-above");
        if (i < group.length - 1) chip.classList.add("tied-below");
        chip.setAttribute("aria-label", this.describe(label));
        if (this.typed.has(label)) chip.classList.add("typed");
        if (label === this.nextUntyped()) chip.classList.add("next");

        const rank = document.createElement("span");
        rank.className = "rank";
        rank.textContent = group.length > 1 ? `${gi + 1}=` : String(gi + 1);
        rank.setAttribute("aria-hidden", "true");
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = label;
        badge.setAttribute("aria-hidden", "true");
        const excerpt = document.createElement("span");
        excerpt.className = "excerpt";
        excerpt.textContent = this.excerpts[label] || "";
        chip.title = excerpt.textContent;
        excerpt.setAttribute("aria-hidden", "true");
        const tie = document.createElement("button");
        tie.type = "button";
        tie.className = "tie-btn";
        tie.tabIndex = -1; // keyboard users tie with Shift+arrows on the response itself
        const tied = group.length > 1;
        tie.dataset.action = tied ? "untie" : "tie-up";
        tie.textContent = tied ? "Untie" : "Tie ↑";
        tie.setAttribute(
          "aria-label",
          tied ? `Give response ${label} a rank of its own` : `Tie response ${label} with the one above`,
        );
        if (!tied && gi === 0) tie.hidden = true;
        chip.append(rank, badge, excerpt, tie);
        this.list.append(chip);
      });
    });
    if (focused) this.focus(focused);
  }

  focus(label) {
    const chip = label
      ? this.list.querySelector(`.chip[data-label="${label}"]`)
      : this.list.querySelector(".chip");
    chip?.focus();
  }

  changed(label) {
    this.render();
    if (label) this.live.textContent = this.describe(label);
    this.onChange();
  }

  onKey(event) {
    const chip = event.target.closest(".chip");
    if (!chip || event.ctrlKey || event.metaKey || event.altKey) return;
    const label = chip.dataset.label;
    let moved = null;
    if (event.key === "ArrowUp") {
      moved = event.shiftKey ? this.model.tieWith(label, -1) : this.model.moveUp(label);
    } else if (event.key === "ArrowDown") {
      moved = event.shiftKey ? this.model.tieWith(label, +1) : this.model.moveDown(label);
    } else {
      return;
    }
    event.preventDefault();
    if (moved) {
      this.typed.clear();
      this.changed(label);
    } else this.live.textContent = `${this.describe(label)} (no change)`;
  }

  onClick(event) {
    const button = event.target.closest(".tie-btn");
    if (!button) return;
    const label = button.closest(".chip").dataset.label;
    const done =
      button.dataset.action === "untie"
        ? this.model.untie(label)
        : this.model.tieWith(label, -1);
    if (done) {
      this.typed.clear();
      this.changed(label);
    }
  }

  destroy() {
    this.sortable.destroy();
  }
}
