"""Who may use what: a decorator per access level on every route, and ``require`` for objects.

Level one is the decorator: it states who may call the route and marks the view function with
``access_rule`` so a test can walk ``app.url_map`` and find any route without one. Course-scoped
levels load the course named by ``<course_code>`` into ``g.course`` and the caller's enrollment
into ``g.enrollment``; a course the user does not belong to answers 404, so other courses' pages
do not even reveal that they exist. Level two is ``require(predicate)``, called by the view with a
``can_*`` predicate about the object at hand.

``course_staff_can(action)`` is the staff level narrowed to one instructor-level action
(``TA_ACTIONS``): instructors always pass, TAs only when the course file's ``ta_can`` lists it.
"""

from __future__ import annotations

from functools import cache, wraps
from typing import Any, Callable, TypeVar

from flask import abort, current_app, g, request
from flask_login import current_user
from sqlalchemy import Select, and_, bindparam, select

from models import Course, CourseRole, Enrollment, PaperSession, User, db
from review.courses.definition import TA_ACTIONS

View = TypeVar("View", bound=Callable[..., Any])

STAFF_ROLES = frozenset({CourseRole.instructor, CourseRole.ta})


def _mark(view: Callable[..., Any], rule: str) -> None:
    view.access_rule = rule  # type: ignore[attr-defined]


def public(view: View) -> View:
    """Anyone, signed in or not."""
    _mark(view, "public")
    return view


def signed_in(view: View) -> View:
    """Any signed-in user."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            from review.extensions import login_manager

            return login_manager.unauthorized()
        return view(*args, **kwargs)

    _mark(wrapper, "signed_in")
    return wrapper  # type: ignore[return-value]


def site_admin(view: View) -> View:
    """Platform administrators only."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            from review.extensions import login_manager

            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    _mark(wrapper, "site_admin")
    return wrapper  # type: ignore[return-value]


def enrollment_of(user: Any, course: Course) -> Enrollment | None:
    if not user.is_authenticated:
        return None
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.course_id == course.id, Enrollment.user_id == user.id)
    )
    _remember_enrollment(course.id, user.id, enrollment)
    return enrollment


def _remember_enrollment(course_id: int, user_id: int, enrollment: Enrollment | None) -> None:
    # Remembered for this database session, so services asking "is this user a student here?"
    # in the same request reuse it instead of querying again (review.reviews.services).
    db.session.info[("enrollment", course_id, user_id)] = enrollment


def known_enrollment(course: Course, user: Any) -> Enrollment | None:
    """The enrollment ``enrollment_of`` loaded in this session, if still loaded, else None."""
    from sqlalchemy import inspect

    enrollment = db.session.info.get(("enrollment", course.id, user.id))
    if enrollment is None or not inspect(enrollment).persistent:
        return None
    return enrollment


def load_user_and_course(user_id: int, course_code: str | None,
                         session_id: int | None = None) -> User | None:
    """The user of a session cookie and, on a course route, the course and the user's enrollment
    in the same statement (three statements on every course page before); on a route that names
    one of the course's sessions, that session too (``prefetched_session``).

    Called by the user loader, so only after Flask-Login's own checks; the caller still checks
    the session token. The course and enrollment are kept for the route's decorator, which
    applies exactly the checks it applies to ones it loads itself (``_course_access``)."""
    if course_code is None:
        return db.session.get(User, user_id)
    row = db.session.execute(_user_and_course_statement(session_id is not None),
                             {"user_id": user_id, "course_code": course_code,
                              "session_id": session_id}).first()
    if row is None:
        return None
    user, course, enrollment = row[:3]
    g._course_access = (course_code, user_id, course, enrollment)
    if session_id is not None:
        g._session_access = (course_code, session_id, row[3])
    return user


@cache
def _user_and_course_statement(with_session: bool) -> Select[Any]:
    # Built once with bound parameters: building a statement costs more CPU than SQLite takes
    # to run it, and a built one keeps its cache key.
    query = (select(User, Course, Enrollment).select_from(User)
             .outerjoin(Course, Course.code == bindparam("course_code"))
             .outerjoin(Enrollment, and_(Enrollment.course_id == Course.id,
                                         Enrollment.user_id == User.id))
             .where(User.id == bindparam("user_id")))
    if with_session:
        # Only a session of this very course: another course's id finds nothing (a 404).
        query = query.add_columns(PaperSession).outerjoin(PaperSession, and_(
            PaperSession.id == bindparam("session_id"), PaperSession.course_id == Course.id))
    return query


def session_loaded_with_user(*methods: str) -> Callable[[View], View]:
    """Marks a route whose URL session (``<int:session_id>``) the user loader loads with the
    user and the course, on these methods (``prefetched_session`` hands it over). Only where the
    view reads the bare session: elsewhere the extra columns would be loaded for nothing."""

    def mark(view: View) -> View:
        view.session_loaded_with_user = frozenset(methods)  # type: ignore[attr-defined]
        return view

    return mark


def session_to_load_with_user() -> int | None:
    """The URL's session id when the matched route is marked for this method, else None."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method not in getattr(view, "session_loaded_with_user", ()):
        return None
    session_id = (request.view_args or {}).get("session_id")
    return session_id if isinstance(session_id, int) else None


def prefetched_session(course: Course, session_id: int) -> tuple[bool, PaperSession | None]:
    """The session the URL names, as the user loader loaded it with ``course``: (True, the
    session, or None when the course has no such session); (False, None) when it did not load
    it (no signed-in user, another course or session, or asked for twice)."""
    prefetched = g.pop("_session_access", None)
    if prefetched is None or prefetched[:2] != (course.code, session_id):
        return False, None
    return True, prefetched[2]


def _course_access(course_code: str) -> tuple[Course | None, Enrollment | None]:
    """The course named in the URL and the signed-in user's enrollment in it (None, None if
    there is no such course): loaded with the user when the user loader could, else here."""
    prefetched = g.pop("_course_access", None)
    if prefetched is not None and prefetched[:2] == (course_code, current_user.id):
        course, enrollment = prefetched[2], prefetched[3]
        if course is not None:
            _remember_enrollment(course.id, current_user.id, enrollment)
        return course, enrollment
    course = db.session.scalar(select(Course).where(Course.code == course_code))
    if course is None:
        return None, None
    return course, enrollment_of(current_user, course)


def _course_route(roles: frozenset[CourseRole], rule: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                from review.extensions import login_manager

                return login_manager.unauthorized()
            course, enrollment = _course_access(kwargs["course_code"])
            if course is None or enrollment is None:
                abort(404)
            if enrollment.role not in roles:
                abort(403)
            g.course = course
            g.enrollment = enrollment
            return view(*args, **kwargs)

        _mark(wrapper, rule)
        return wrapper  # type: ignore[return-value]

    return decorator


course_member = _course_route(frozenset(CourseRole), "course_member")
course_student = _course_route(frozenset({CourseRole.student}), "course_student")
course_staff = _course_route(STAFF_ROLES, "course_staff")
course_instructor = _course_route(frozenset({CourseRole.instructor}), "course_instructor")


def staff_can(course: Course, enrollment: Enrollment | None, action: str) -> bool:
    """Instructors may do every staff action; TAs only what the course file's ``ta_can`` lists
    (beyond grading, viewing and exporting, which every staff route allows)."""
    if enrollment is None or enrollment.role not in STAFF_ROLES:
        return False
    if enrollment.role == CourseRole.instructor:
        return True
    return action in (course.definition or {}).get("ta_can", [])


def course_staff_can(action: str) -> Callable[[View], View]:
    """Staff of the course who may do ``action`` (a key of TA_ACTIONS); other TAs get 403."""
    if action not in TA_ACTIONS:
        raise ValueError(f"unknown staff action {action!r}")

    def decorator(view: View) -> View:
        @wraps(view)
        def check_action(*args: Any, **kwargs: Any) -> Any:
            if not staff_can(g.course, g.enrollment, action):
                abort(403)
            return view(*args, **kwargs)

        wrapper = course_staff(check_action)
        _mark(wrapper, "course_staff_can")
        wrapper.staff_action = action  # type: ignore[attr-defined]
        return wrapper

    return decorator


def current_staff_can(action: str) -> bool:
    """``staff_can`` for the signed-in user in this request's course, as templates ask it
    (``can('release')``): a control shows exactly when its route's decorator would let the user
    through. Reads the course and enrollment the route decorator loaded, so no query."""
    if action not in TA_ACTIONS:
        raise ValueError(f"unknown staff action {action!r}")
    course = g.get("course")
    if course is None:
        return False
    return staff_can(course, g.get("enrollment"), action)


def is_staff(enrollment: Enrollment | None) -> bool:
    return enrollment is not None and enrollment.role in STAFF_ROLES


def require(allowed: bool, *, status: int = 404) -> None:
    """Stop the request unless a ``can_*`` predicate allowed it (404 hides what exists)."""
    if not allowed:
        abort(status)
