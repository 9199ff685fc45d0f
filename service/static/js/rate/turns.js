// Per-turn rubric fields (scope "turn", service/rating/turns.py): each assistant turn of
// the conversation has its own fields; J and K move the highlight to the next or previous
// turn, onto its first field still to answer (its first field when all are answered).

export class TurnNavigator {
  constructor(form, isFilled) {
    this.groups = Array.from(form.querySelectorAll(".rubric-turn"));
    this.isFilled = isFilled;
    this.at = -1; // the turn last moved to, when focus is not inside one
  }

  // Move ``step`` turns (1 next, -1 previous) from the turn holding focus; stop at the ends.
  move(step) {
    if (!this.groups.length) return false;
    const inside = document.activeElement?.closest?.(".rubric-turn");
    const from = inside ? this.groups.indexOf(inside) : this.at;
    const at = from < 0 ? 0 : Math.min(Math.max(from + step, 0), this.groups.length - 1);
    this.at = at;
    const group = this.groups[at];
    const details = group.closest("details");
    if (details) details.open = true; // C may have folded the turns away
    this.groups.forEach((g) => g.closest(".turn")?.classList.toggle("current-turn", g === group));
    const fields = Array.from(group.querySelectorAll("[data-field]"));
    const target = fields.find((f) => !this.isFilled(f)) || fields[0];
    target.focus({ preventScroll: true });
    group.closest(".turn").scrollIntoView({ block: "nearest" });
    return true;
  }
}
