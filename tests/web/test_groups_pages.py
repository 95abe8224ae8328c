"""Group pages: forming groups by code and link, staff tools, import, and access."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from models import CourseRole, Group, Membership, db
from tests.factories import grant_ta, make_course, make_group, make_member


@pytest.fixture(autouse=True)
def before_the_first_session(monkeypatch):
    """Groups form before the factory course's first paper session (21 September 2026)."""
    monkeypatch.setattr("review.groups.views.utcnow",
                        lambda: datetime(2026, 9, 1, tzinfo=timezone.utc))


@pytest.fixture
def setup(app):
    course = make_course()
    other = make_course("other-course")
    people = dict(course=course, students=[make_member(course) for _ in range(5)],
                  ta=make_member(course, CourseRole.ta),
                  instructor=make_member(course, CourseRole.instructor),
                  outsider=make_member(other))
    db.session.commit()
    return people


def group_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Group))


def test_create_then_join_with_the_code_and_with_the_link(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    login(s[0])
    page = client.post(f"/c/{course.code}/groups/create", data={"name": "Owls"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Group Owls created" in page
    group = db.session.scalar(select(Group))
    assert group.join_code in page and f"/calendar/group/{group.calendar_token}.ics" in page
    login(s[1])
    page = client.post(f"/c/{course.code}/groups/join", data={"code": group.join_code},
                       follow_redirects=True).get_data(as_text=True)
    assert "You joined Owls" in page
    login(s[2])
    link = f"/c/{course.code}/groups/join/{group.join_code}"
    assert "Join Owls?" in client.get(link).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 2
    client.post(link)
    login(s[3])
    page = client.post(link, follow_redirects=True).get_data(as_text=True)
    assert "Owls is full" in page
    assert client.get(f"/c/{course.code}/groups/join/nonsense").status_code == 404


def test_members_leave_until_groups_are_locked(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    make_group(course, s[:2], name="Bees")
    db.session.commit()
    login(setup["instructor"])
    client.post(f"/c/{course.code}/groups/lock", data={"locked": "1"})
    login(s[0])
    page = client.post(f"/c/{course.code}/groups/leave", data={"confirm": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Groups of this course are locked by the staff; ask the course staff to move you." \
        in page
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 2


def test_staff_page_lists_groups_and_ungrouped_students(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    make_group(course, s[:2], name="Cats")
    db.session.commit()
    login(setup["ta"])
    page = client.get(f"/c/{course.code}/groups").get_data(as_text=True)
    assert "Cats" in page and s[0].full_name in page and "Without a group" in page
    assert s[4].full_name in page


def test_auto_form_preview_saves_nothing_until_applied(client, login, setup) -> None:
    course = setup["course"]
    login(setup["instructor"])
    page = client.get(f"/c/{course.code}/groups/auto").get_data(as_text=True)
    assert "Preview" in page and group_count() == 0
    import re
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    page = client.post(f"/c/{course.code}/groups/auto", data={"fingerprint": fingerprint},
                       follow_redirects=True).get_data(as_text=True)
    assert "Created 2 group(s)" in page and group_count() == 2
    client.post(f"/c/{course.code}/groups/auto", data={"fingerprint": fingerprint})
    assert group_count() == 2


def test_import_page_reports_rows(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    login(setup["instructor"])
    data = f"group,student_id\nDogs,{10000 + s[0].id}\nDogs,777\n".encode()
    response = client.post(f"/c/{course.code}/groups/import",
                           data={"file": (io.BytesIO(data), "groups.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "row 3, column student_id: no student with id" in response.get_data(as_text=True)
    assert group_count() == 0
    data = f"group,student_id\nDogs,{10000 + s[0].id}\nDogs,{10000 + s[1].id}\n".encode()
    response = client.post(f"/c/{course.code}/groups/import",
                           data={"file": (io.BytesIO(data), "groups.csv")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "1 new group(s), 2 membership(s) added" in response.get_data(as_text=True)


def test_import_page_refuses_a_small_group_unless_the_box_is_ticked(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    login(setup["instructor"])
    data = f"group;student_id\nSolo;{10000 + s[0].id}\n".encode("cp1254")
    response = client.post(f"/c/{course.code}/groups/import",
                           data={"file": (io.BytesIO(data), "groups.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and group_count() == 0
    assert ("row 2, column group: group &#39;Solo&#39; would have 1 member; the minimum is 2"
            in response.get_data(as_text=True))
    response = client.post(f"/c/{course.code}/groups/import",
                           data={"file": (io.BytesIO(data), "groups.csv"), "allow_small": "y"},
                           content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "1 new group(s), 1 membership(s) added" in page
    assert "group &#39;Solo&#39; has 1 member, below the minimum of 2" in page
    assert group_count() == 1


def test_staff_merge_move_dissolve_through_the_page(client, login, setup) -> None:
    course, s = setup["course"], setup["students"]
    one, two = make_group(course, [s[0]], name="One"), make_group(course, [s[1]], name="Two")
    db.session.commit()
    login(setup["instructor"])
    client.post(f"/c/{course.code}/groups/merge",
                data={"keep": one.id, "absorb": two.id, "confirm": "1"})
    assert group_count() == 1
    client.post(f"/c/{course.code}/groups/move", data={"student": s[2].id, "group": one.id})
    db.session.expire_all()
    assert len(db.session.get(Group, one.id).memberships) == 3
    client.post(f"/c/{course.code}/groups/{one.id}/rename", data={"name": "Uno"})
    assert db.session.get(Group, one.id).name == "Uno"
    client.post(f"/c/{course.code}/groups/{one.id}/dissolve", data={"confirm": "1"})
    assert group_count() == 0


def test_access(client, login, setup) -> None:
    course = setup["course"]
    login(setup["outsider"])
    assert client.get(f"/c/{course.code}/groups").status_code == 404
    assert client.post(f"/c/{course.code}/groups/create", data={"name": "X"}).status_code == 404
    login(setup["students"][0])
    assert client.get(f"/c/{course.code}/groups/import").status_code == 403
    assert client.post(f"/c/{course.code}/groups/new", data={"name": "X"}).status_code == 403
    login(setup["ta"])
    assert client.post(f"/c/{course.code}/groups/create", data={"name": "X"}).status_code == 403
    other_group = make_group(make_course("third"), [])
    grant_ta(course, "dissolve_groups")
    db.session.commit()
    assert client.post(f"/c/{course.code}/groups/{other_group.id}/dissolve").status_code == 404
