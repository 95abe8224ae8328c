"""Peer evaluation: the window, who may rate, one editable rating, aggregation, agreement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from models import CourseRole, PeerRating, db
from review.grading import peer, services
from review.grading.results import presentation_results
from tests.factories import hold_slot, make_course, make_group, make_member


@pytest.fixture
def setup(app: Flask) -> dict:
    course = make_course("peer-a")
    instructor = make_member(course, CourseRole.instructor)
    presenters = [make_member(course) for _ in range(2)]
    audience = [make_member(course) for _ in range(4)]
    slot = hold_slot(course, make_group(course, presenters), 3, "overview")
    db.session.commit()
    return {"course": course, "instructor": instructor, "presenters": presenters,
            "audience": audience, "slot": slot, "start": slot.session.starts_at}


def peer_values(pct_of_max: float) -> dict[str, float]:
    return {"clarity": 4 * pct_of_max, "insight": 4 * pct_of_max, "time": 4 * pct_of_max}


def test_window_opens_at_start_and_closes_after_configured_minutes(setup: dict) -> None:
    course, slot, student = setup["course"], setup["slot"], setup["audience"][0]
    start = setup["start"]
    with pytest.raises(services.GradingRefused, match="opens when the session starts"):
        peer.save_peer_rating(course, student, slot, peer_values(1), start - timedelta(seconds=1))
    peer.save_peer_rating(course, student, slot, peer_values(1), start)
    # Editable until close, still one row.
    peer.save_peer_rating(course, student, slot, peer_values(0.5), start + timedelta(minutes=119))
    db.session.commit()
    rows = db.session.scalars(select(PeerRating)).all()
    assert len(rows) == 1 and rows[0].total == 6
    with pytest.raises(services.GradingRefused, match="closed"):
        peer.save_peer_rating(course, student, slot, peer_values(1), start + timedelta(minutes=120))


def test_presenters_staff_and_bad_values_are_refused(setup: dict) -> None:
    course, slot, start = setup["course"], setup["slot"], setup["start"]
    with pytest.raises(services.GradingRefused, match="You present"):
        peer.save_peer_rating(course, setup["presenters"][0], slot, peer_values(1), start)
    with pytest.raises(services.GradingRefused, match="Only students"):
        peer.save_peer_rating(course, setup["instructor"], slot, peer_values(1), start)
    with pytest.raises(services.GradingRefused, match="between 0 and 4"):
        peer.save_peer_rating(course, setup["audience"][0], slot, {"clarity": 9, "insight": 1,
                                                                  "time": 1}, start)
    assert [s.id for s in peer.rateable_slots(course, setup["audience"][0], start)] == [slot.id]
    assert peer.rateable_slots(course, setup["presenters"][0], start) == []


def test_peer_weight_and_aggregation_count_toward_the_grade(app: Flask, setup: dict) -> None:
    course, slot, start = setup["course"], setup["slot"], setup["start"]
    for student, share in zip(setup["audience"], (1, 1, 0.5, 0)):
        peer.save_peer_rating(course, student, slot, peer_values(share), start)
    rubric = app.extensions["rubrics"]["presentation-overview"]
    services.save_score(course, setup["instructor"], services.presentation_item(course, slot.id),
                        values={c.id: c.points for c in rubric.criteria})
    db.session.commit()
    result = presentation_results(course)[0]
    assert result.peer_pct == pytest.approx(75.0)  # median of 100, 100, 50, 0
    assert result.final_pct == pytest.approx(100.0)  # peer weight 0 by default
    definition = dict(course.definition)
    definition["grading"] = {**definition["grading"], "peer_weight": 0.2,
                             "peer_aggregate": "trimmed_mean"}
    course.definition = definition
    db.session.commit()
    result = presentation_results(course)[0]
    assert result.peer_pct == pytest.approx(62.5)  # trim 0.1 of 4 drops nothing
    assert result.final_pct == pytest.approx(0.8 * 100 + 0.2 * 62.5)


def test_peer_summary_alpha_and_rater_distances(app: Flask, setup: dict) -> None:
    course, start = setup["course"], setup["start"]
    other_group = make_group(course, [make_member(course)])
    second = hold_slot(course, other_group, 3, "strengths")
    slots = [setup["slot"], second]
    careful, careless = setup["audience"][:2]
    for slot, share in zip(slots, (1, 0.5)):
        peer.save_peer_rating(course, careful, slot, peer_values(share), start)
        peer.save_peer_rating(course, careless, slot, peer_values(0), start)
    rubric = app.extensions["rubrics"]["presentation-overview"]
    services.save_score(course, setup["instructor"],
                        services.presentation_item(course, setup["slot"].id),
                        values={c.id: c.points for c in rubric.criteria})
    db.session.commit()
    summary = peer.peer_summary(course)
    assert summary.rater_count == 2 and summary.item_count == 2
    # raters x items: careful (100, 50), careless (0, 0): alpha from the library.
    import krippendorff
    expected = krippendorff.alpha(reliability_data=[[100, 50], [0, 0]],
                                  level_of_measurement="interval")
    assert summary.alpha == pytest.approx(expected)
    assert [(row[0], row[2]) for row in summary.distances] == [(careless.id, 100.0),
                                                               (careful.id, 0.0)]
