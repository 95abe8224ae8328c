"""A new password has at least 10 characters and is not one of the ~20,000 most common."""

from __future__ import annotations

import pytest

from models import CourseRole, TokenPurpose, db, utcnow
from review.accounts import services
from tests.factories import make_course, make_member

COMMON = ["password123", "1234567890", "qwertyuiop", "Password1!"]


@pytest.mark.parametrize("password", COMMON)
def test_a_common_password_is_refused_with_a_message(app, password) -> None:
    with pytest.raises(services.WeakPassword, match="common"):
        services.check_password_strength(password)


def test_a_short_password_is_refused_and_an_uncommon_long_one_accepted(app) -> None:
    with pytest.raises(services.WeakPassword, match="10 characters"):
        services.check_password_strength("tr0ub4dor")
    services.check_password_strength("seminar walnut lantern")


@pytest.mark.parametrize("password", COMMON)
def test_the_set_password_page_refuses_a_common_password(client, password) -> None:
    from datetime import timedelta

    course = make_course()
    student = make_member(course, CourseRole.student)
    raw = services.issue_password_token(student, TokenPurpose.set_password, utcnow(),
                                        timedelta(hours=1))
    db.session.commit()
    response = client.post(f"/password/set/{raw}", data={"password": password, "confirm": password})
    assert response.status_code == 422
    assert b"common" in response.data
    db.session.refresh(student)
    assert student.password_hash is None
