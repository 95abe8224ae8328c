"""Assignment against the database: preferences stored -> solver input -> published slots."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import select

from models import (AssignmentRun, AuditEntry, CourseRole, GroupPreference, GroupUnavailability,
                    PaperSession, PresentationRole, Slot, Week, db)
from review.assignment import services
from review.assignment.services import (AssignmentError, InvalidPreferenceInput,
                                        NotGroupMember, PreferencesClosed, PublishRefused,
                                        RunOptions)
from review.assignment.solver import GroupPreferences, solve_assignment
from review.courses.roster import TableFileError
from tests.factories import make_course, make_group, make_member

# The courses of these tests start in September 2026; their runs happen before the term, so no
# session is in the past (test_assignment_frozen.py covers runs once the term is under way).
BEFORE_TERM = datetime(2026, 8, 1, tzinfo=timezone.utc)
OPEN = {"mode": "preferences", "opens_at": "2020-01-01T00:00:00",
        "closes_at": "2099-01-01T00:00:00"}


def course_with_groups(count: int = 4, *, weeks: tuple[int, ...] = (3, 4, 5, 6),
                       signup: dict | None = None, code: str = "asg-course"):
    course = make_course(code, session_weeks=weeks, weeks=max(weeks) + 2,
                         signup={**OPEN, **(signup or {})})
    groups = []
    for index in range(count):
        member = make_member(course, CourseRole.student)
        groups.append(make_group(course, [member], name=f"G{index + 1:02d}"))
    return course, groups


def session_ids(course) -> dict[int, int]:
    """week number -> session id"""
    return dict(db.session.execute(select(Week.number, PaperSession.id).join(
        PaperSession, PaperSession.week_id == Week.id).where(PaperSession.course_id == course.id))
        .tuples().all())


def member_of(group):
    return group.memberships[0].user


def save(group, ranking_weeks, unavailable_weeks=(), *, course):
    ids = session_ids(course)
    ranks = {ids[w]: rank for rank, w in enumerate(ranking_weeks, start=1)}
    return services.save_group_preferences(group, member_of(group), ranks,
                                           {ids[w] for w in unavailable_weeks}, BEFORE_TERM)


def holders(course) -> dict[tuple[int, str], str | None]:
    rows = db.session.execute(
        select(Week.number, PresentationRole.key, Slot.group_id).select_from(Slot)
        .join(PaperSession, Slot.session_id == PaperSession.id)
        .join(Week, PaperSession.week_id == Week.id)
        .join(PresentationRole, Slot.role_id == PresentationRole.id)
        .where(PaperSession.course_id == course.id)).tuples().all()
    from models import Group
    names = {g.id: g.name for g in db.session.scalars(select(Group))}
    return {(week, role): names.get(group_id) for week, role, group_id in rows}


# ---------------------------------------------------------------------------- round trip


def test_stored_preferences_become_the_solver_input_and_published_slots(app) -> None:
    course, groups = course_with_groups(4)
    save(groups[0], [3, 4, 5], course=course)
    save(groups[1], [4, 3], [6], course=course)
    save(groups[2], [6, 5, 4, 3], course=course)
    # groups[3] ranks nothing
    context = services.build_problem(course)
    assert context.problem.groups == (
        GroupPreferences("G01", (3, 4, 5)), GroupPreferences("G02", (4, 3), frozenset({6})),
        GroupPreferences("G03", (6, 5, 4, 3)), GroupPreferences("G04"))
    assert context.problem.roles == ("overview", "strengths", "weaknesses")
    assert context.problem.weeks == (3, 4, 5, 6)
    assert context.problem.quota is None and context.problem.min_gap_weeks == 0

    run = services.run_assignment(course, None, BEFORE_TERM)
    expected = solve_assignment(context.problem)
    assert run.status == "optimal" and run.objective == expected.objective
    assert run.result["assignments"] == expected.to_json_dict()["assignments"]
    assert not any(a["group"] == "G02" and a["week"] == 6 for a in run.result["assignments"])

    admin = make_member(course, CourseRole.instructor)
    changed = services.publish_run(run, admin, BEFORE_TERM)
    db.session.commit()
    assert changed == 12
    got = holders(course)
    for item in run.result["assignments"]:
        assert got[(item["week"], item["role"])] == item["group"]
    assert set(db.session.scalars(select(Slot.source))) == {"assignment"}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "publish_assignment"))
    assert entry.category == "slot" and entry.entity_id == run.id and entry.actor_id == admin.id
    assert len(entry.new["holders"]) == 12
    assert db.session.get(AssignmentRun, run.id).published_at is not None


def test_a_group_that_ranked_nothing_gets_the_slots_nobody_wanted(app) -> None:
    course, groups = course_with_groups(3, weeks=(3, 4, 5))
    for group in groups[:2]:
        save(group, [3, 4], course=course)
    run = services.run_assignment(course, None, BEFORE_TERM)
    assert run.status == "optimal"
    lazy = next(row for row in run.result["groups"] if row["group"] == "G03")
    assert lazy["ranked"] == 0 and len(lazy["slots"]) == 3
    assert all(slot["rank"] is None for slot in lazy["slots"])
    # Three groups fill three roles, so every group presents every session: the two choosers
    # get their 1st and 2nd choice, everything else is unranked.
    assert run.result["histogram"] == [{"rank": 1, "count": 2}, {"rank": 2, "count": 2},
                                       {"rank": "unranked", "count": 5}]
    assert run.result["worst_off"]["group"] in {"G01", "G02", "G03"}


def test_course_quota_and_gap_reach_the_solver(app) -> None:
    course, _ = course_with_groups(4, weeks=(2, 3, 4, 5, 6, 7), signup={"quota": 6,
                                                                        "min_gap_weeks": 2})
    context = services.build_problem(course)
    assert context.problem.quota == 6 and context.problem.min_gap_weeks == 2
    override = services.build_problem(course, RunOptions(quota=5, min_gap_weeks=0))
    assert override.problem.quota == 5 and override.problem.min_gap_weeks == 0


# ---------------------------------------------------------------------------- editing preferences


def test_duplicate_ranks_are_refused_naming_both_papers_and_nothing_is_saved(app) -> None:
    course, groups = course_with_groups(3)
    save(groups[0], [5, 6], course=course)
    db.session.commit()
    ids = session_ids(course)
    with pytest.raises(InvalidPreferenceInput) as caught:
        services.save_group_preferences(groups[0], member_of(groups[0]),
                                        {ids[3]: 1, ids[4]: 1, ids[5]: 2}, set(), BEFORE_TERM)
    message = str(caught.value)
    assert "rank 1 is given to more than one paper" in message
    assert "week 3 ('Paper of week 3')" in message and "week 4 ('Paper of week 4')" in message
    db.session.rollback()
    assert services.preferences_of(groups[0]).ranking == [ids[5], ids[6]]


def test_unknown_papers_and_ranked_unavailable_weeks_are_named(app) -> None:
    course, groups = course_with_groups(3)
    ids = session_ids(course)
    with pytest.raises(InvalidPreferenceInput) as caught:
        services.save_group_preferences(groups[0], member_of(groups[0]),
                                        {ids[3]: 1, 99999: 2}, {ids[3], 88888}, BEFORE_TERM)
    message = str(caught.value)
    assert "#88888" in message and "#99999" in message
    assert "week 3 ('Paper of week 3') is both ranked and marked unavailable" in message


def test_ranks_with_gaps_are_closed_up(app) -> None:
    course, groups = course_with_groups(3)
    ids = session_ids(course)
    services.save_group_preferences(groups[0], member_of(groups[0]),
                                    {ids[6]: 7, ids[3]: 2, ids[4]: None}, {ids[5]}, BEFORE_TERM)
    stored = db.session.scalars(select(GroupPreference).where(
        GroupPreference.group_id == groups[0].id).order_by(GroupPreference.rank)).all()
    assert [(p.session_id, p.rank) for p in stored] == [(ids[3], 1), (ids[6], 2)]
    assert db.session.scalar(select(GroupUnavailability.session_id)) == ids[5]


def test_only_members_edit_their_groups_preferences(app) -> None:
    course, groups = course_with_groups(3)
    with pytest.raises(NotGroupMember):
        services.save_group_preferences(groups[0], member_of(groups[1]), {}, set(), BEFORE_TERM)


@pytest.mark.parametrize("signup", [
    {"opens_at": "2099-01-01T00:00:00"},
    {"closes_at": "2020-06-01T00:00:00"},
    {"opens_at": None},
    {"mode": "first_come"},
])
def test_preferences_are_edited_only_while_open(app, signup) -> None:
    course, groups = course_with_groups(3, signup=signup)
    assert not services.preference_window(course, BEFORE_TERM).is_open
    with pytest.raises(PreferencesClosed):
        save(groups[0], [3], course=course)


# ---------------------------------------------------------------------------- import


def test_import_stores_rankings_and_unavailable_weeks(app) -> None:
    course, groups = course_with_groups(3)
    data = b"group,ranking,unavailable\nG01,4;3,6\ng02,5,\nG03,,3;4\n"
    result = services.import_preferences(course, data, "prefs.csv", None)
    assert (result.groups, result.ranked, result.unavailable) == (3, 3, 3)
    context = services.build_problem(course)
    assert context.problem.groups == (
        GroupPreferences("G01", (4, 3), frozenset({6})), GroupPreferences("G02", (5,)),
        GroupPreferences("G03", (), frozenset({3, 4})))


def test_import_reads_a_semicolon_excel_csv_whose_rankings_are_quoted(app) -> None:
    course, _ = course_with_groups(3)
    # Excel in a Turkish locale separates with ';' and quotes the cells that hold one.
    data = 'group;ranking;unavailable\r\nG01;"4;3";6\r\nG02;5;\r\n'.encode("cp1254")
    assert services.import_preferences(course, data, "prefs.csv", None).groups == 2
    assert services.build_problem(course).problem.groups[0].ranking == (4, 3)


def test_import_reads_xlsx(app) -> None:
    course, _ = course_with_groups(3)
    buffer = io.BytesIO()
    pd.DataFrame({"group": ["G01"], "ranking": ["6;5"], "unavailable": [""]}).to_excel(
        buffer, index=False, engine="openpyxl")
    services.import_preferences(course, buffer.getvalue(), "prefs.xlsx", None)
    assert services.build_problem(course).problem.groups[0].ranking == (6, 5)


def test_a_bad_import_is_refused_by_row_and_imports_nothing(app) -> None:
    course, groups = course_with_groups(3)
    save(groups[0], [3], course=course)
    db.session.commit()
    data = (b"group,ranking,unavailable\n"
            b"G01,4;5,\n"          # fine on its own
            b"Nobody,3,\n"         # row 3: unknown group
            b"G02,3;x;9,\n"        # row 4: not a number, unknown week
            b"G03,4;4,5\n"         # row 5: repeated week
            b"G01,6,\n"            # row 6: group twice
            b"G03b,3,3\n")         # row 7: unknown group, ranked and unavailable
    with pytest.raises(TableFileError) as caught:
        services.import_preferences(course, data, "prefs.csv", None)
    problems = caught.value.problems
    assert "row 3, column group: no group named 'Nobody' in this course" in problems
    assert "row 4, column ranking: 'x' is not a week number" in problems
    assert any(p.startswith("row 4, column ranking: week(s) 9 have no paper session")
               for p in problems)
    assert "row 5, column ranking: week(s) 4 listed more than once" in problems
    assert "row 6, column group: 'G01' is also on row 2" in problems
    assert "row 7: week(s) 3 both ranked and unavailable" in problems
    db.session.rollback()
    assert services.build_problem(course).problem.groups[0].ranking == (3,)


def test_import_names_missing_columns(app) -> None:
    course, _ = course_with_groups(3)
    with pytest.raises(TableFileError) as caught:
        services.import_preferences(course, b"team,prefs\nG01,3\n", "prefs.csv", None)
    assert "row 1 (header): missing column 'group'" in caught.value.problems


# ---------------------------------------------------------------------------- infeasible runs


def test_an_infeasible_gap_is_explained_and_the_offered_relaxation_works(app) -> None:
    course, _ = course_with_groups(3, weeks=(3, 4, 5, 6), signup={"min_gap_weeks": 3})
    run = services.run_assignment(course, None, BEFORE_TERM)
    assert run.status == "infeasible" and run.objective is None
    rules = {reason["rule"] for reason in run.result["explanation"]}
    assert "min_gap" in rules
    offer = next(o for o in run.result["relaxations"] if "gap" in o["label"])
    assert offer["label"] in ("Run again without the minimum gap",
                              "Run again with a minimum gap of 2 weeks")
    again = services.run_assignment(course, None, BEFORE_TERM, RunOptions.from_dict(offer["options"]))
    assert again.status == "optimal"


def test_a_too_small_quota_offers_the_quota_that_works(app) -> None:
    course, _ = course_with_groups(4, signup={"quota": 2})
    run = services.run_assignment(course, None, BEFORE_TERM)
    assert run.status == "infeasible"
    quota = next(r for r in run.result["explanation"] if r["rule"] == "quota")
    assert quota["shortfall"] == 4
    assert [o["label"] for o in run.result["relaxations"]] == [
        "Run again allowing a quota of 3"]
    again = services.run_assignment(course, None, BEFORE_TERM,
                                    RunOptions.from_dict(run.result["relaxations"][0]["options"]))
    assert again.status == "optimal"
    with pytest.raises(PublishRefused, match="no assignment"):
        services.publish_run(run, None, BEFORE_TERM)


def test_no_groups_is_a_clear_error(app) -> None:
    course = make_course("empty-course", signup=OPEN)
    with pytest.raises(AssignmentError, match="no groups"):
        services.run_assignment(course, None, BEFORE_TERM)


# ---------------------------------------------------------------------------- publishing


def test_publishing_clears_held_slots_first_so_groups_can_change_roles(app) -> None:
    course, groups = course_with_groups(3, weeks=(3, 4, 5))
    # Every group presents every session; rotate who holds what so publishing must reshuffle
    # roles within sessions, which (session_id, group_id) uniqueness forbids without clearing.
    run = services.run_assignment(course, None, BEFORE_TERM)
    target = {(a["week"], a["role"]): a["group"] for a in run.result["assignments"]}
    rotate = {"G01": "G02", "G02": "G03", "G03": "G01"}
    by_name = {g.name: g for g in groups}
    ids = session_ids(course)
    roles = {r.key: r.id for r in db.session.scalars(select(PresentationRole))}
    for (week, role), name in target.items():
        slot = db.session.scalar(select(Slot).where(Slot.session_id == ids[week],
                                                    Slot.role_id == roles[role]))
        slot.group_id = by_name[rotate[name]].id
        slot.source = "claim"
    db.session.flush()
    run = services.run_assignment(course, None, BEFORE_TERM)
    services.publish_run(run, None, BEFORE_TERM)
    db.session.commit()
    assert holders(course) == {key: a["group"] for key, a in
                               {(a["week"], a["role"]): a for a in run.result["assignments"]}.items()}


def test_publishing_after_slots_changed_by_hand_is_refused(app) -> None:
    course, groups = course_with_groups(4)
    run = services.run_assignment(course, None, BEFORE_TERM)
    slot = db.session.scalars(select(Slot)).first()
    slot.group_id = groups[0].id
    slot.source = "manual"
    db.session.commit()
    with pytest.raises(PublishRefused, match="Slots changed since run"):
        services.publish_run(run, None, BEFORE_TERM)
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.action == "publish_assignment")) is None
    # The next run keeps the hand-placed slot.
    again = services.run_assignment(course, None, BEFORE_TERM)
    assert again.result["options"]["fixed"] == 1
    services.publish_run(again, None, BEFORE_TERM)
    db.session.refresh(slot)
    assert slot.group_id == groups[0].id


def test_an_older_run_is_not_published_after_a_newer_one(app) -> None:
    course, _ = course_with_groups(4)
    older = services.run_assignment(course, None, BEFORE_TERM)
    newer = services.run_assignment(course, None, BEFORE_TERM)
    with pytest.raises(PublishRefused, match=f"older than run #{newer.id}"):
        services.publish_run(older, None, BEFORE_TERM)
    services.publish_run(newer, None, BEFORE_TERM)
    with pytest.raises(PublishRefused, match="already published"):
        services.publish_run(newer, None, BEFORE_TERM)


def test_publish_is_all_or_nothing(app, monkeypatch) -> None:
    course, _ = course_with_groups(4)
    run = services.run_assignment(course, None, BEFORE_TERM)
    db.session.commit()

    def broken_audit(*args, **kwargs):
        raise AssignmentError("audit log unavailable")

    monkeypatch.setattr(services, "_audit", broken_audit)
    with pytest.raises(AssignmentError):
        services.publish_run(run, None, BEFORE_TERM)
    db.session.rollback()
    assert set(holders(course).values()) == {None}
    assert db.session.get(AssignmentRun, run.id).published_at is None
