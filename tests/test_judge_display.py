"""What a rater is shown of the model judges: only verdicts on the responses they see."""

from __future__ import annotations

from service import db
from service.models import Project
from service.rating import judge_display
from tests.factories import add_judge, add_verdict, item_row


def _shown(app, project, item, order):
    with app.app_context():
        s = db.session()
        return judge_display.verdicts_in_labels(
            session=s, project=s.get(Project, project.id), item_id=item.id, shown_order=order
        )


def test_a_verdict_on_another_pair_of_the_item_never_stands_for_the_raters_pair(app, make):
    """Three responses, every pair a unit: the judge preferred a over b (asked as [b, a]),
    then called b and c a tie. A rater shown [a, b] sees the a-b verdict, not that tie; a
    rater shown [a, c], which the judge never compared, sees nothing."""
    project = make.project(mode="pairwise", scale="ternary", judge_display="suggestion")
    (item,) = make.items(project, [item_row("q1", n_responses=3)])
    judge = add_judge(app, project)
    add_verdict(app, item, judge, ["b", "a"], preferred="a")
    add_verdict(app, item, judge, ["b", "c"], preferred=None)

    (entry,) = _shown(app, project, item, ["a", "b"])
    assert (entry["choice"], entry["text"]) == ("A", "Model judge: A is better")
    assert _shown(app, project, item, ["a", "c"]) == []
