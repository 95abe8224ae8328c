"""Group rules against the database: forming, limits, locking, staff edits, auto-form, import."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import func, select

from models import AuditEntry, CourseRole, Group, Membership, Slot, db
from review.courses.roster import TableFileError, read_table
from review.groups import services
from review.groups.services import AlreadyInGroup, GroupError, GroupFull, GroupsLocked
from tests.factories import make_course, make_group, make_member


# The factory course's first paper session is on 21 September 2026; groups lock then.
BEFORE_SESSIONS = datetime(2026, 9, 1, tzinfo=timezone.utc)


@pytest.fixture
def course(app):
    course = make_course()
    db.session.commit()
    return course


def size(group: Group) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership)
                             .where(Membership.group_id == group.id))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.category == "group")
                                   .order_by(AuditEntry.id)))


def test_students_create_join_and_leave_and_every_change_is_recorded(course) -> None:
    a, b, c = (make_member(course) for _ in range(3))
    group = services.create_group(course, a, "  The   Reviewers ", now=BEFORE_SESSIONS)
    assert group.name == "The Reviewers"
    services.join_group(course, b, group.join_code, now=BEFORE_SESSIONS)
    services.leave_group(course, b, now=BEFORE_SESSIONS)
    assert size(group) == 1
    assert actions() == ["create", "join", "leave"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "join"))
    assert entry.actor_id == b.id and entry.entity_id == group.id and entry.at is not None
    with pytest.raises(GroupError, match="join code"):
        services.join_group(course, c, "wrong", now=BEFORE_SESSIONS)


def test_a_group_never_exceeds_the_maximum_size(course) -> None:
    members = [make_member(course) for _ in range(4)]
    group = services.create_group(course, members[0], "Full", now=BEFORE_SESSIONS)
    services.join_group(course, members[1], group.join_code, now=BEFORE_SESSIONS)
    services.join_group(course, members[2], group.join_code, now=BEFORE_SESSIONS)
    with pytest.raises(GroupFull):
        services.join_group(course, members[3], group.join_code, now=BEFORE_SESSIONS)


def test_one_group_per_student(course) -> None:
    a, b = make_member(course), make_member(course)
    services.create_group(course, a, "One", now=BEFORE_SESSIONS)
    other = services.create_group(course, b, "Two", now=BEFORE_SESSIONS)
    with pytest.raises(AlreadyInGroup):
        services.join_group(course, a, other.join_code, now=BEFORE_SESSIONS)
    with pytest.raises(AlreadyInGroup):
        services.create_group(course, a, "Three", now=BEFORE_SESSIONS)


def test_names_are_unique_per_course_ignoring_case(course) -> None:
    a, b = make_member(course), make_member(course)
    services.create_group(course, a, "Alpha", now=BEFORE_SESSIONS)
    with pytest.raises(GroupError, match="already a group"):
        services.create_group(course, b, "alpha", now=BEFORE_SESSIONS)


def test_locked_groups_refuse_students_but_not_staff(course) -> None:
    a, b, c = (make_member(course) for _ in range(3))
    instructor = make_member(course, CourseRole.instructor)
    group = services.create_group(course, a, "Locked", now=BEFORE_SESSIONS)
    services.set_locked(course, instructor, True)
    with pytest.raises(GroupsLocked):
        services.join_group(course, b, group.join_code, now=BEFORE_SESSIONS)
    with pytest.raises(GroupsLocked):
        services.leave_group(course, a, now=BEFORE_SESSIONS)
    with pytest.raises(GroupsLocked):
        services.create_group(course, c, "New", now=BEFORE_SESSIONS)
    services.move_student(course, b, group, instructor)
    assert size(group) == 2
    with pytest.raises(GroupError):
        services.set_locked(course, a, False)  # a student cannot unlock


def test_the_last_member_leaving_dissolves_the_group_and_opens_its_slots(course) -> None:
    a = make_member(course)
    group = services.create_group(course, a, "Solo", now=BEFORE_SESSIONS)
    held = course.sessions[0].slots[0]
    held.group_id = group.id
    db.session.flush()
    # Before the session: a slot still ahead opens (one already held would stay).
    services.leave_group(course, a, now=course.sessions[0].starts_at - timedelta(days=1))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Group, group.id) is None
    assert db.session.get(Slot, held.id).group_id is None


def test_staff_merge_keeps_members_and_moves_slots(course) -> None:
    instructor = make_member(course, CourseRole.instructor)
    one = make_group(course, [make_member(course)], name="One")
    two = make_group(course, [make_member(course), make_member(course)], name="Two")
    s0, s1 = course.sessions[0].slots, course.sessions[1].slots
    s0[0].group_id, s0[1].group_id, s1[0].group_id = one.id, two.id, two.id
    db.session.flush()
    services.merge_groups(course, one, two, instructor,
                          now=course.sessions[0].starts_at - timedelta(days=1))
    db.session.commit()
    db.session.expire_all()
    assert size(one) == 3 and db.session.get(Group, two.id) is None
    # Two's role in the paper One already presents opens; its other slot moves to One.
    assert db.session.get(Slot, s0[1].id).group_id is None
    assert db.session.get(Slot, s1[0].id).group_id == one.id
    assert "merge" in actions()


def test_merge_refuses_to_exceed_the_maximum(course) -> None:
    instructor = make_member(course, CourseRole.instructor)
    one = make_group(course, [make_member(course), make_member(course)])
    two = make_group(course, [make_member(course), make_member(course)])
    with pytest.raises(GroupFull):
        services.merge_groups(course, one, two, instructor)


def test_staff_dissolve_and_move(course) -> None:
    ta = make_member(course, CourseRole.ta)
    a, b = make_member(course), make_member(course)
    group = make_group(course, [a, b])
    other = make_group(course, [])
    services.move_student(course, a, other, ta)
    assert services.group_of(course, a).id == other.id
    services.dissolve_group(course, group, ta)
    assert services.group_of(course, b) is None
    assert actions() == ["move_student", "dissolve"]
    with pytest.raises(GroupError):
        services.dissolve_group(course, other, a)


def test_balanced_sizes() -> None:
    assert services.balanced_sizes(7, 2, 3) == [3, 2, 2]
    assert services.balanced_sizes(9, 2, 3) == [3, 3, 3]
    assert services.balanced_sizes(4, 2, 3) == [2, 2]
    assert services.balanced_sizes(1, 2, 3) == []


def test_auto_form_previews_then_applies_balanced_groups(course) -> None:
    instructor = make_member(course, CourseRole.instructor)
    small = make_group(course, [make_member(course)], name="Small")
    loose = [make_member(course) for _ in range(8)]
    plan = services.plan_auto_form(course)
    assert [u.id for g, u in plan.additions if g.id == small.id] and len(plan.additions) == 1
    assert sorted(len(g) for g in plan.new_groups) == [2, 2, 3]
    assert plan.unplaced == []
    assert db.session.scalar(select(func.count()).select_from(Group)) == 1  # preview saves nothing
    services.apply_auto_form(course, instructor, plan.fingerprint)
    assert services.ungrouped_students(course) == []
    assert all(course.group_min_size <= size(g) <= course.group_max_size
               for g in services.course_groups(course))
    assert len(loose) == 8


def test_auto_form_refuses_a_stale_preview(course) -> None:
    instructor = make_member(course, CourseRole.instructor)
    for _ in range(4):
        make_member(course)
    plan = services.plan_auto_form(course)
    make_member(course)  # a late enrolment changes the plan
    with pytest.raises(GroupError, match="changed since the preview"):
        services.apply_auto_form(course, instructor, plan.fingerprint)


def frame(text: str):
    return read_table(text.encode(), "groups.csv")


def test_import_creates_groups_and_memberships(course) -> None:
    a, b, c = (make_member(course) for _ in range(3))
    number = {u.id: str(10000 + u.id) for u in (a, b, c)}
    rows = services.parse_group_table(frame(
        f"group,student_id\nAlpha,{number[a.id]}\nAlpha,{number[b.id]}\nBeta,{number[c.id]}\n"))
    result = services.import_groups(course, rows, None, allow_small=True)
    assert result.created_groups == ["Alpha", "Beta"] and result.added == 3
    again = services.import_groups(course, rows, None, allow_small=True)
    assert again.added == 0 and again.unchanged == 3


def test_import_names_every_bad_row(course) -> None:
    students = [make_member(course) for _ in range(5)]
    ids = [str(10000 + u.id) for u in students]
    make_group(course, [students[4]], name="Elsewhere")
    text = ("group,student_id\n"
            f"Alpha,{ids[0]}\n"          # row 2 ok
            "Alpha,99999\n"              # row 3 unknown
            f"Beta,{ids[0]}\n"           # row 4 twice
            f"Gamma,{ids[1]}\nGamma,{ids[2]}\nGamma,{ids[3]}\n"
            f"Delta,{ids[4]}\n")         # row 8 already elsewhere
    # make Gamma too big: four members with an existing one
    gamma = make_group(course, [make_member(course)], name="Gamma")
    with pytest.raises(TableFileError) as error:
        services.import_groups(course, services.parse_group_table(frame(text)), None,
                               allow_small=True)
    problems = "\n".join(error.value.problems)
    assert "row 3, column student_id: no student with id '99999'" in problems
    assert "row 4, column student_id" in problems and "row 2" in problems
    assert "rows 5, 6, 7" in problems and "4 members" in problems
    assert "row 8, column group" in problems and "Elsewhere" in problems
    assert size(gamma) == 1
    assert db.session.scalar(select(func.count()).select_from(Group)
                             .where(Group.name == "Alpha")) == 0


def test_import_requires_the_columns() -> None:
    with pytest.raises(TableFileError, match="missing column 'group'"):
        services.parse_group_table(frame("team,student_id\nA,1\n"))


def test_import_reads_xlsx(course) -> None:
    a = make_member(course)
    buffer = io.BytesIO()
    pd.DataFrame({"group": ["X"], "student_id": [str(10000 + a.id)]}).to_excel(
        buffer, index=False, engine="openpyxl")
    rows = services.parse_group_table(read_table(buffer.getvalue(), "g.xlsx"))
    assert services.import_groups(course, rows, None, allow_small=True).added == 1


def test_cli_import(app, runner, tmp_path) -> None:
    course = make_course("cli-course")
    a, b = make_member(course), make_member(course)
    db.session.commit()
    path = tmp_path / "groups.csv"
    path.write_text(f"group,student_id\nTeam,{10000 + a.id}\nTeam,{10000 + b.id}\n")
    result = runner.invoke(args=["groups", "import", "cli-course", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 new group(s), 2 membership(s) added" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("group,student_id\nTeam,424242\n")
    result = runner.invoke(args=["groups", "import", "cli-course", str(bad)])
    assert result.exit_code == 1 and "row 2, column student_id" in result.output


def sized_course(code: str, min_size: int, max_size: int):
    course = make_course(code, groups={"min_size": min_size, "max_size": max_size})
    students = [make_member(course) for _ in range(6)]
    db.session.commit()
    return course, [str(10000 + s.id) for s in students]


def test_import_refuses_a_group_below_the_minimum_naming_it_and_its_size(app) -> None:
    course, ids = sized_course("min-three", 3, 4)
    text = (f"group,student_id\nFull,{ids[0]}\nFull,{ids[1]}\nFull,{ids[2]}\n"
            f"Pair,{ids[3]}\nPair,{ids[4]}\n")
    with pytest.raises(TableFileError) as error:
        services.import_groups(course, services.parse_group_table(frame(text)), None)
    assert error.value.problems == [
        "rows 5, 6, column group: group 'Pair' would have 2 members; the minimum is 3 "
        "(to import it anyway, allow small groups: --allow-small or the import page's checkbox)"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Group)) == 0


def test_import_counts_the_members_a_group_already_has_towards_the_minimum(app) -> None:
    course, ids = sized_course("min-three-b", 3, 4)
    existing = make_group(course, [], name="Pair")
    services.import_groups(course, services.parse_group_table(frame(
        f"group,student_id\nPair,{ids[0]}\nPair,{ids[1]}\nPair,{ids[2]}\n")), None)
    db.session.commit()
    # One more member for a group of three: the file alone lists one, the group has four.
    result = services.import_groups(course, services.parse_group_table(frame(
        f"group,student_id\nPair,{ids[3]}\n")), None)
    assert result.added == 1 and size(existing) == 4 and result.warnings == []


def test_import_with_allow_small_imports_the_group_and_warns_for_each(app) -> None:
    course, ids = sized_course("min-three-c", 3, 4)
    text = f"group,student_id\nPair,{ids[0]}\nPair,{ids[1]}\nSolo,{ids[2]}\n"
    result = services.import_groups(course, services.parse_group_table(frame(text)), None,
                                    allow_small=True)
    assert result.added == 3
    assert result.warnings == ["group 'Pair' has 2 members, below the minimum of 3",
                               "group 'Solo' has 1 member, below the minimum of 3"]


def test_import_refuses_a_group_above_the_maximum_even_with_allow_small(app) -> None:
    course, ids = sized_course("max-four", 1, 4)
    text = "group,student_id\n" + "".join(f"Big,{number}\n" for number in ids[:5])
    with pytest.raises(TableFileError, match="group 'Big' would have 5 members; the maximum is 4"):
        services.import_groups(course, services.parse_group_table(frame(text)), None,
                               allow_small=True)


def test_cli_import_refuses_small_groups_unless_allowed(app, runner, tmp_path) -> None:
    course, ids = sized_course("cli-min", 3, 4)
    path = tmp_path / "groups.csv"
    path.write_text(f"group;student_id\nPair;{ids[0]}\nPair;{ids[1]}\n", encoding="cp1254")
    result = runner.invoke(args=["groups", "import", "cli-min", str(path)])
    assert result.exit_code == 1 and "group 'Pair' would have 2 members" in result.output
    assert db.session.scalar(select(func.count()).select_from(Group)) == 0
    result = runner.invoke(args=["groups", "import", "cli-min", str(path), "--allow-small"])
    assert result.exit_code == 0, result.output
    assert "1 new group(s), 2 membership(s) added" in result.output
    assert "warning: group 'Pair' has 2 members, below the minimum of 3" in result.output


def test_cli_list(app, runner) -> None:
    course = make_course("list-course")
    member = make_member(course, first_name="Ada")
    make_group(course, [member], name="Lovelace")
    db.session.commit()
    result = runner.invoke(args=["groups", "list", "list-course"])
    assert result.exit_code == 0 and "Lovelace:" in result.output and "Ada" in result.output
