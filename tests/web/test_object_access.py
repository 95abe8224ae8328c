"""Adversarial object access and input checks, walking every id-taking route of ``app.url_map``.

Two courses, A and B, each with staff, students, groups, held slots, submitted reviews, staff
scores, peer ratings, regrade requests, an assignment run, a swap proposal and an external grade.

1. Cross-course: a member of A, using A's code in the URL but B's object ids (URL or form), gets
   404 (403 when the route is not for their role), never 200/302/500, and the database does not
   change. An outsider gets 404 for every course page. A new route whose URL arguments this file
   does not know how to fill fails ``test_every_id_route_is_known``.
2. Student against student: B's student never reads A's review before release, A's feedback,
   scores, regrades or grades, never acts for A's group and never rates their own presentation.
3. Input fuzzing: every POST form route with missing fields, wrong types, NaN/inf, huge and
   negative numbers, long unicode text and bad uploads: no 5xx, a message, nothing saved.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import (
    AssignmentRun,
    CourseRole,
    GradeItem,
    Group,
    ImportJob,
    LiveQuestion,
    OutboxMessage,
    OutboxStatus,
    PaperSession,
    PeerRating,
    RegradeRequest,
    SessionAnalysis,
    Slot,
    SlideDeck,
    SwapProposal,
    User,
    Week,
    db,
    utcnow,
)
from tests.factories import (
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_rubric_row,
    make_staff_score,
    make_submitted_review,
    make_user,
)

# ============================================================================ the two courses


@dataclass
class Side:
    """One course and everything in it that a URL or form can point at."""

    course: Any
    instructor: User
    ta: User
    students: list[User]
    g1: Group
    g2: Group
    slot1: Slot          # held by g1 (week 3 overview), scored, peer-rated, regrade asked
    slot2: Slot          # held by g2 (week 4 overview)
    open_slot: Slot      # nobody holds it (week 5 overview)
    session: PaperSession
    review1: Any         # by students[0], week 3, scored, released? no
    review3: Any         # by students[2], week 3
    regrade: RegradeRequest
    run: AssignmentRun
    proposal: SwapProposal
    grade: GradeItem
    ids: dict[str, Any] = None  # type: ignore[assignment]
    forms: dict[str, dict[str, Any]] = None  # type: ignore[assignment]
    deck: Any = None     # slides (a link) of slot1
    question: Any = None  # a live question of week 3, asked by students[0]
    import_job: Any = None  # a roster import that failed

    @property
    def code(self) -> str:
        return self.course.code


def _session(course: Any, week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == week))


def build_side(code: str) -> Side:
    from review.assignment.services import run_assignment

    course = make_course(code)
    instructor = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(5)]
    g1 = make_group(course, students[:2])
    g2 = make_group(course, students[2:4])
    slot1 = hold_slot(course, g1, 3)
    slot2 = hold_slot(course, g2, 4)
    open_slot = hold_slot(course, g1, 5)
    open_slot.group_id = None
    session = _session(course, 3)
    review1 = make_submitted_review(course, students[0], 3)
    review3 = make_submitted_review(course, students[2], 3)
    make_staff_score(course, instructor, 80, rubric_key="presentation-overview", slot_id=slot1.id)
    make_staff_score(course, instructor, 70, rubric_key="review", review_id=review1.id)
    peer_row = make_rubric_row("peer")
    db.session.add(PeerRating(slot_id=slot1.id, rater_id=students[2].id, rubric_id=peer_row.id,
                              values={}, total=1, max_total=peer_row.max_score))
    regrade = RegradeRequest(course_id=course.id, user_id=students[0].id, slot_id=slot1.id,
                             reason="Please look at the slides again.")
    proposal = SwapProposal(course_id=course.id, from_slot_id=slot1.id, to_slot_id=slot2.id,
                            proposer_group_id=g1.id, target_group_id=g2.id)
    grade = GradeItem(course_id=course.id, user_id=students[0].id, component="midterm", score=70)
    mail = OutboxMessage(course_id=course.id, to=students[0].email, subject="A slot came free",
                         template="slot_promotion", context={}, status=OutboxStatus.failed)
    failed_job = SessionAnalysis(session_id=session.id, kind="digest", error="MemoryError: ",
                                 failed_at=utcnow())
    import_job = ImportJob(course_id=course.id, kind="roster", created_by_id=instructor.id,
                           state="failed", error="OSError: ", finished_at=utcnow(),
                           rows=[{"row": 2, "student_id": f"{code}-new", "first_name": "New",
                                  "last_name": "Student", "email": f"new@{code}.example.edu"}])
    db.session.add_all([regrade, proposal, grade, mail, failed_job, import_job])
    db.session.flush()
    run = run_assignment(course, instructor, utcnow())
    deck = SlideDeck(slot_id=slot1.id, version=1, url="https://example.org/slides")
    question = LiveQuestion(session_id=session.id, text="Why this dataset?",
                            author_id=students[0].id)
    db.session.add_all([deck, question])
    db.session.flush()
    return Side(course, instructor, ta, students, g1, g2, slot1, slot2, open_slot, session,
                review1, review3, regrade, run, proposal, grade, deck=deck, question=question,
                import_job=import_job)


@pytest.fixture
def world(app: Flask) -> tuple[Side, Side]:
    a, b = build_side("course-a"), build_side("course-b")
    db.session.commit()
    for side in (a, b):   # read ids now: a request under test may delete the objects
        side.ids = {name: fill(side) for name, fill in ARG_FILLERS.items()}
    for side in (a, b):
        side.forms = {target.code: _plausible_form(side, target) for target in (a, b)}
    return a, b


# ============================================================================ URL arguments

# How to fill each URL argument from a course's objects. A route with an argument missing here
# fails test_every_id_route_is_known: add the argument (and a cross-course object) here.
ARG_FILLERS: dict[str, Callable[[Side], Any]] = {
    "session_id": lambda s: s.session.id,
    "slot_id": lambda s: s.slot1.id,
    "review_id": lambda s: s.review1.id,
    "group_id": lambda s: s.g1.id,
    "run_id": lambda s: s.run.id,
    "request_id": lambda s: s.regrade.id,
    "user_id": lambda s: s.students[0].id,
    "proposal_id": lambda s: s.proposal.id,
    "code": lambda s: s.g1.join_code,          # a group's join code
    "deck_id": lambda s: s.deck.id,
    "import_id": lambda s: s.import_job.id,
}
# Arguments that name no object: a fixed, valid value.
# A week number is looked up within the course named by the URL, so it names no object of its own.
FIXED_ARGS = {"fmt": "xlsx", "decision": "accept", "week": 3}
# Routes outside /c/<course_code>/ whose argument is a secret token: a wrong token is refused.
TOKEN_ROUTES = {"signup.course_feed": 404, "signup.group_feed": 404,
                "signup.personal_feed": 404, "accounts.set_password": 410}
SKIPPED_ENDPOINTS = {"static"}


def _id_rules(app: Flask) -> list[Any]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS or "course_code" not in rule.arguments:
            continue
        if (rule.arguments - {"course_code"}) - set(FIXED_ARGS):  # names an object
            rules.append(rule)
    return sorted(rules, key=lambda r: r.rule)


def _url(app: Flask, rule: Any, code: str, side: Side) -> str:
    values: dict[str, Any] = {"course_code": code}
    for name in rule.arguments - {"course_code"}:
        values[name] = FIXED_ARGS[name] if name in FIXED_ARGS else side.ids[name]
    return app.url_for(rule.endpoint, **values)


def test_every_id_route_is_known(app: Flask) -> None:
    unknown = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        args = rule.arguments - {"course_code"}
        if "course_code" not in rule.arguments and args:
            if rule.endpoint not in TOKEN_ROUTES:
                unknown.append(f"{rule.rule}: a token route this test does not know")
            continue
        for name in args - set(ARG_FILLERS) - set(FIXED_ARGS):
            unknown.append(f"{rule.rule}: no filler for <{name}>")
    assert unknown == [], "Teach tests/web/test_object_access.py these routes:\n" + "\n".join(unknown)


# ============================================================================ form data


def _rubric_values(key: str) -> dict[str, str]:
    from flask import current_app

    rubric = current_app.extensions["rubrics"][key]
    return {f"score-{c.id}": f"{c.levels[0].score:g}" for c in rubric.criteria}


def plausible_form(side: Side, target: Side | None = None) -> dict[str, Any]:
    return dict(side.forms[(target or side).code])


def _plausible_form(side: Side, target: Side | None = None) -> dict[str, Any]:
    """Fields that would make any POST form of the app succeed for ``side``'s objects; ids
    carried in the form come from ``target`` (default: the same side)."""
    t = target or side
    data: dict[str, Any] = {
        "version": "", "target": t.open_slot.id, "from_slot": t.slot1.id, "to_slot": t.slot2.id,
        "slot_a": t.slot1.id, "slot_b": t.slot2.id, "group": t.g2.id,
        "reason": "A reason that is long enough.", "user_id": t.students[0].id,
        "delta_pct": "5", "points": "1", "note": "asked a good question", "outcome": "kept",
        "reply": "We looked again.", "action": "release", "name": "Renamed group",
        "code": t.g2.join_code, "student": t.students[4].id, "keep": t.g1.id, "absorb": t.g2.id,
        "student_id": t.students[4].id, "session_id": t.session.id, "review_id": t.review1.id,
        "question_index": "0", "raised_by_id": "0", "overall_comment": "fine", "summary": "S",
        "strengths": "S", "weaknesses": "W", "remedies": "R", "questions-0": "Why?",
        "submit": "1", "locked": "1", "user_ids": str(t.students[0].id),
        "original": "{}", f"g-{t.students[0].id}-midterm": "95", "payload": "[]",
        "quota": "2", "min_gap_weeks": "0", "mode": "first_come", "keep_fixed": "1",
        "confirm": "1",   # past the confirmation step of destructive actions
        "expected_segment": "0", "minutes": "1", "question_id": t.question.id,
        "status": "raised", "credited_id": "0", "slide_slot": t.slot1.id,
        "text": "A question from the floor?", "helpfulness": "4", "tags": "good-question",
        "message_id": db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.course_id == t.course.id)),
        "analysis_id": db.session.scalar(select(SessionAnalysis.id).join(PaperSession).where(
            PaperSession.course_id == t.course.id)),
        "import_id": t.import_job.id,
    }
    data.update(_rubric_values("presentation-overview"))
    for sid in [s.id for s in t.course.sessions]:
        data[f"rank_{sid}"] = "1" if sid == t.session.id else ""
    return data


# ============================================================================ snapshots

# Tables a GET or refused POST may legitimately touch: none. (Rubric rows are created on first
# use of a rubric and are not course data.)
VOLATILE_TABLES = {"rubric"}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    db.session.rollback()
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name in VOLATILE_TABLES:
            continue
        rows = db.session.execute(select(table)).all()
        state[table.name] = sorted((tuple(repr(v) for v in row) for row in rows))
    db.session.rollback()
    return state


def diff(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [f"{name}: {len(before[name])} -> {len(after[name])} rows"
            + ("" if len(before[name]) != len(after[name]) else " (changed)")
            for name in before if before[name] != after[name]]


def _login(client: FlaskClient, user: User | None) -> None:
    with client.session_transaction() as session:
        session.clear()
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True


def _call(client: FlaskClient, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
    if method == "GET":
        return client.get(url)
    return client.post(url, data=data or {})


ROLE_OK = {
    "course_member": {CourseRole.instructor, CourseRole.ta, CourseRole.student},
    "course_student": {CourseRole.student},
    "course_staff": {CourseRole.instructor, CourseRole.ta},
    "course_instructor": {CourseRole.instructor},
    # TAs only for what the course's ta_can lists; these courses list nothing.
    "course_staff_can": {CourseRole.instructor},
}


def _methods(rule: Any) -> list[str]:
    return sorted(rule.methods & {"GET", "POST"})


# ============================================================================ 1. cross-course


@pytest.mark.parametrize("who", ["instructor", "ta", "student"])
def test_course_a_member_with_course_b_ids_gets_404_and_changes_nothing(
        app: Flask, client: FlaskClient, world: tuple[Side, Side], who: str) -> None:
    a, b = world
    user = {"instructor": a.instructor, "ta": a.ta, "student": a.students[0]}[who]
    role = {"instructor": CourseRole.instructor, "ta": CourseRole.ta,
            "student": CourseRole.student}[who]
    _login(client, user)
    problems, walked = [], 0
    for rule in _id_rules(app):
        rule_name = app.view_functions[rule.endpoint].access_rule
        expected = 404 if role in ROLE_OK[rule_name] else 403
        url = _url(app, rule, a.code, b)
        for method in _methods(rule):
            before = snapshot()
            response = _call(client, method, url, plausible_form(a))
            walked += 1
            changed = diff(before, snapshot())
            if response.status_code != expected or changed:
                problems.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}, "
                                f"expected {expected}; changed: {changed}")
    assert walked >= 40
    assert problems == [], "\n".join(problems)


# Routes whose FORM names objects (no id in the URL): B's ids in A's form must not act.
FORM_ID_ROUTES = {
    "signup.move": ("slot_id", "target"),
    "signup.propose": (None, "from_slot/to_slot"),
    "signup.staff_assign": ("slot_id", "group"),
    "signup.staff_swap": (None, "slot_a/slot_b"),
    "groups.merge": (None, "keep/absorb"),
    "groups.move": (None, "student/group"),
    "groups.join": (None, "code"),
    "grading.adjust": ("slot_id", "user_id"),
    "grading.participation_manual": ("session_id", "user_id"),
    "reviews.excuse": (None, "student_id/session_id"),
    "reviews.mark_raised": ("session_id", "review_id/raised_by_id"),
    "gradebook.grid": (None, "user_ids"),
    "staff.links_csv": (None, "user_ids"),
    "live.vote": (None, "question_id"),
    "live.mark_question": (None, "question_id/credited_id"),
    "live.upload_slides": (None, "slide_slot"),
    "live.review_ratings": (None, "review_id"),
    "outbox.course_resend": (None, "message_id"),
    "outbox.course_rerun": (None, "analysis_id"),
    "outbox.course_rerun_import": (None, "import_id"),
}
# POST routes that carry no object id at all (checked so a new one must be classified).
NO_ID_POSTS = {
    "accounts.change_password", "accounts.login", "accounts.logout",
    "accounts.forgot_password", "accounts.set_password", "assignment.import_page",
    "assignment.preferences", "assignment.run", "courses.roster_page", "courses.roster_links",
    "gradebook.import_grades", "gradebook.confirm_import", "groups.auto_form", "groups.create",
    "groups.import_page", "groups.leave", "groups.lock", "groups.new", "groups.staff_create",
    "reviews.preview", "signup.settings", "staff.page", "admin.create_course",
    "outbox.admin_resend", "outbox.admin_rerun", "outbox.admin_rerun_import",
    "notifications.reminders",
    "signup.rotate_personal_feed",   # the signed-in user's own calendar token, nothing else
}


def test_every_post_route_is_classified(app: Flask) -> None:
    unknown = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.arguments - {"course_code"}:
            continue
        if rule.endpoint not in FORM_ID_ROUTES and rule.endpoint not in NO_ID_POSTS:
            unknown.append(f"{rule.rule} ({rule.endpoint})")
    assert unknown == [], ("Classify these POST routes in FORM_ID_ROUTES or NO_ID_POSTS:\n"
                           + "\n".join(unknown))


@pytest.mark.parametrize("who", ["instructor", "student"])
def test_course_b_ids_in_course_a_forms_change_nothing(
        app: Flask, client: FlaskClient, world: tuple[Side, Side], who: str) -> None:
    a, b = world
    user = a.instructor if who == "instructor" else a.students[0]
    role = CourseRole.instructor if who == "instructor" else CourseRole.student
    _login(client, user)
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in FORM_ID_ROUTES:
            continue
        url = _url(app, rule, a.code, a)
        before = snapshot()
        response = client.post(url, data=plausible_form(a, target=b))
        changed = diff(before, snapshot())
        rule_name = app.view_functions[rule.endpoint].access_rule
        allowed = {403} if role not in ROLE_OK[rule_name] else {302, 404, 422}
        if response.status_code not in allowed or changed:
            problems.append(f"POST {url} with B's ids -> {response.status_code}; "
                            f"changed: {changed}")
    assert problems == [], "\n".join(problems)


def test_outsiders_get_404_for_every_course_page(app: Flask, client: FlaskClient,
                                                  world: tuple[Side, Side]) -> None:
    a, b = world
    stranger = make_user()
    db.session.commit()
    problems = []
    for user in (b.instructor, b.students[0], stranger):
        _login(client, user)
        for rule in app.url_map.iter_rules():
            if "course_code" not in rule.arguments:
                continue
            url = _url(app, rule, a.code, a)
            for method in _methods(rule):
                before = snapshot()
                response = _call(client, method, url, plausible_form(a))
                changed = diff(before, snapshot())
                if response.status_code != 404 or changed:
                    problems.append(f"{user.email}: {method} {url} -> {response.status_code}; "
                                    f"changed: {changed}")
    assert problems == [], "\n".join(problems)


def test_signed_out_visitors_are_sent_to_login(app: Flask, client: FlaskClient,
                                               world: tuple[Side, Side]) -> None:
    a, _ = world
    problems = []
    for rule in _id_rules(app):
        url = _url(app, rule, a.code, a)
        for method in _methods(rule):
            before = snapshot()
            response = _call(client, method, url, plausible_form(a))
            if response.status_code not in (302, 401) or (
                    response.status_code == 302 and "/login" not in response.location):
                problems.append(f"{method} {url} -> {response.status_code}")
            if diff(before, snapshot()):
                problems.append(f"{method} {url} changed data while signed out")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00", "ünïcode"])
def test_wrong_tokens_are_refused(app: Flask, client: FlaskClient, world: tuple[Side, Side],
                                  token: str) -> None:
    for endpoint, status in TOKEN_ROUTES.items():
        url = app.url_for(endpoint, token=token)
        assert client.get(url).status_code == status, url
    for code in ("nope", "x" * 40):
        _login(client, world[0].students[4])
        url = app.url_for("groups.join_link", course_code=world[0].code, code=code)
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404


def test_huge_and_odd_ids_in_urls_are_404(app: Flask, client: FlaskClient,
                                          world: tuple[Side, Side]) -> None:
    a, _ = world
    problems = []
    for user in (a.instructor, a.students[0]):
        _login(client, user)
        for rule in _id_rules(app):
            int_args = [n for n in rule.arguments if n in ARG_FILLERS and n != "code"]
            if not int_args:
                continue
            for bad in ("99999999999999999999999", "2147483648", "0"):
                url = _url(app, rule, a.code, a)
                good = str(a.ids[int_args[0]])
                url = url.replace(f"/{good}", f"/{bad}", 1)
                for method in _methods(rule):
                    response = _call(client, method, url, plausible_form(a))
                    if response.status_code not in (403, 404):
                        problems.append(f"{method} {url} -> {response.status_code}")
    assert problems == [], "\n".join(problems)


# ============================================================================ 2. student vs student


def _flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def test_a_student_cannot_read_a_classmates_work_before_release(
        app: Flask, client: FlaskClient, world: tuple[Side, Side]) -> None:
    a, _ = world
    owner, other = a.students[0], a.students[2]
    # Owner's feedback is released, so the owner could read it; the classmate still may not.
    a.slot1.feedback_released_at = a.review1.feedback_released_at = utcnow()
    db.session.commit()
    _login(client, other)
    code = a.code
    before = snapshot()
    refused = {
        f"/c/{code}/reviews/r/{a.review1.id}": 404,
        f"/c/{code}/reviews/r/{a.review1.id}?version=1": 404,
        f"/c/{code}/reviews/{a.session.id}/all": 403,
        f"/c/{code}/feedback/reviews/{a.review1.id}": 404,
        f"/c/{code}/feedback/presentations/{a.slot1.id}": 404,
        f"/c/{code}/gradebook/students/{owner.id}": 403,
        f"/c/{code}/gradebook/export/xlsx": 403,
        f"/c/{code}/gradebook/export/csv": 403,
        f"/c/{code}/reviews/matrix.csv": 403,
        f"/c/{code}/reviews/matrix.xlsx": 403,
        f"/c/{code}/grading/regrades": 403,
        f"/c/{code}/grading/reviews/{a.review1.id}": 403,
    }
    for url, status in refused.items():
        assert client.get(url).status_code == status, url
    for url in (f"/c/{code}/feedback/reviews/{a.review1.id}/regrade",
                f"/c/{code}/feedback/presentations/{a.slot1.id}/regrade"):
        assert client.post(url, data={"reason": "I want their grade changed."}).status_code == 404
    # Own pages show only one's own work.
    for url in (f"/c/{code}/grades", f"/c/{code}/feedback", f"/c/{code}/reviews"):
        page = client.get(url)
        assert page.status_code == 200 and owner.last_name not in page.text, url
    assert diff(before, snapshot()) == []
    # The owner does see their own released feedback (the checks above can fail).
    _login(client, owner)
    assert client.get(f"/c/{code}/feedback/reviews/{a.review1.id}").status_code == 200
    assert client.get(f"/c/{code}/reviews/r/{a.review1.id}").status_code == 200


@pytest.mark.parametrize("mode", ["named", "anonymous"])
def test_released_reviews_are_readable_by_the_class_named_or_not(
        app: Flask, client: FlaskClient, world: tuple[Side, Side], mode: str) -> None:
    a, _ = world
    definition = dict(a.course.definition)
    definition["reviews"] = {**definition.get("reviews", {}), "release_mode": mode}
    a.course.definition = definition
    a.session.reviews_released_at = utcnow()
    db.session.commit()
    _login(client, a.students[2])
    page = client.get(f"/c/{a.code}/reviews/r/{a.review1.id}")
    assert page.status_code == 200
    assert (a.students[0].last_name in page.text) == (mode == "named")
    listing = client.get(f"/c/{a.code}/reviews/{a.session.id}/all")
    assert listing.status_code == 200
    assert (a.students[0].last_name in listing.text) == (mode == "named")
    # Another course's student still sees nothing.
    _login(client, world[1].students[2])
    assert client.get(f"/c/{a.code}/reviews/r/{a.review1.id}").status_code == 404


def test_a_student_cannot_act_for_another_group(app: Flask, client: FlaskClient,
                                                world: tuple[Side, Side]) -> None:
    a, _ = world
    outsider, target_member = a.students[4], a.students[2]   # no group; member of g2
    code = a.code
    before = snapshot()
    _login(client, target_member)   # g2 releasing or moving g1's slot, withdrawing g1's proposal
    client.post(f"/c/{code}/signup/slots/{a.slot1.id}/release", data={"version": ""})
    client.post(f"/c/{code}/signup/slots/{a.slot1.id}/move",
                data={"target": a.open_slot.id, "version": ""})
    client.post(f"/c/{code}/signup/swaps/{a.proposal.id}/withdraw")
    client.post(f"/c/{code}/signup/swaps", data={"from_slot": a.slot1.id,
                                                 "to_slot": a.slot2.id})
    _login(client, outsider)        # no group at all
    for url, data in [
        (f"/c/{code}/signup/slots/{a.slot1.id}/release", {"version": ""}),
        (f"/c/{code}/signup/slots/{a.open_slot.id}/claim", {"version": ""}),
        (f"/c/{code}/signup/slots/{a.slot1.id}/waitlist", {}),
        (f"/c/{code}/signup/swaps/{a.proposal.id}/accept", {}),
        (f"/c/{code}/signup/swaps/{a.proposal.id}/decline", {}),
        (f"/c/{code}/groups/leave", {}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 302, url
        assert any(category == "error" for category, _ in _flashes(client)), url
        with client.session_transaction() as session:
            session.pop("_flashes", None)
    response = client.post(f"/c/{code}/preferences", data={f"rank_{a.session.id}": "1"})
    assert response.status_code == 200 and "group" in response.text
    assert diff(before, snapshot()) == []


def test_a_student_cannot_rate_their_own_groups_presentation(
        app: Flask, client: FlaskClient, world: tuple[Side, Side]) -> None:
    a, _ = world
    a.slot1.session.starts_at = utcnow()   # the rating window is open now
    db.session.commit()
    _login(client, a.students[0])          # member of g1, which holds slot1
    before = snapshot()
    response = client.post(f"/c/{a.code}/peer/{a.slot1.id}", data=_rubric_values("peer"))
    assert response.status_code == 302
    assert diff(before, snapshot()) == []
    assert ("error", "You present in this slot, so you cannot rate it.") in _flashes(client)
    # A classmate from another group may (the rule above can fail).
    _login(client, a.students[4])
    client.post(f"/c/{a.code}/peer/{a.slot1.id}", data=_rubric_values("peer"))
    assert diff(before, snapshot()) != []


def test_a_personal_calendar_feed_carries_only_its_owners_courses(
        app: Flask, client: FlaskClient, world: tuple[Side, Side]) -> None:
    a, b = world
    body = client.get(f"/calendar/me/{a.students[0].calendar_token}.ics").get_data(as_text=True)
    assert f"@{a.code}" in body and f"@{b.code}" not in body
    # Rotating needs the owner signed in and touches only the owner's token.
    tokens = {user.id: user.calendar_token for user in (a.students[0], a.students[1])}
    _login(client, a.students[0])
    assert client.post("/calendar/me/rotate").status_code == 302
    db.session.expire_all()
    assert a.students[0].calendar_token != tokens[a.students[0].id]
    assert a.students[1].calendar_token == tokens[a.students[1].id]


# ============================================================================ 3. input fuzzing

BAD_NUMBERS = ["abc", "-1", "1e308", "nan", "inf", "-inf", "99999999999999999999999", "", "1.5"]
NUMERIC_KEYS = ["version", "target", "from_slot", "to_slot", "slot_a", "slot_b", "group",
                "user_id", "delta_pct", "points", "student", "keep", "absorb", "student_id",
                "session_id", "review_id", "question_index", "raised_by_id", "user_ids",
                "expected_segment", "minutes", "question_id", "credited_id", "slide_slot",
                "helpfulness"]
# Values that look odd but are valid for that field.
VALID_ODD = {("version", ""),          # not loaded from a page
             ("delta_pct", "-1"), ("delta_pct", "1.5"), ("points", "1.5"),
             ("raised_by_id", ""),      # "" = the asker
             ("quota", ""),             # "" = derived from slots and groups
             ("min_gap_weeks", ""),     # "" = the course's setting (assignment run)
             ("minutes", ""),           # "" = extend by one minute
             ("credited_id", "")}       # "" = the asker
# Per route, the numeric fields its form reads (each is fuzzed on its own).
ROUTE_NUMBERS = {
    "signup.claim": ["version"], "signup.release": ["version"], "signup.move": ["target", "version"],
    "signup.propose": ["from_slot", "to_slot"], "signup.staff_assign": ["group", "version"],
    "signup.staff_swap": ["slot_a", "slot_b"], "groups.merge": ["keep", "absorb"],
    "groups.move": ["student", "group"], "grading.adjust": ["user_id", "delta_pct"],
    "grading.participation_manual": ["user_id", "points"],
    "reviews.excuse": ["student_id", "session_id"],
    "reviews.mark_raised": ["review_id", "question_index", "raised_by_id"],
    "gradebook.grid": ["user_ids"], "grading.grade_presentation": ["version"],
    "grading.grade_review": ["version"], "reviews.edit": ["version"],
    "signup.settings": ["quota", "min_gap_weeks"], "assignment.run": ["quota", "min_gap_weeks"],
    "live.control": ["expected_segment", "minutes"], "live.vote": ["question_id"],
    "live.mark_question": ["question_id", "credited_id"], "live.upload_slides": ["slide_slot"],
    "live.review_ratings": ["review_id", "helpfulness"],
}


def _post_routes(app: Flask) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules()
             if "POST" in r.methods and "course_code" in r.arguments]
    return sorted(rules, key=lambda r: r.rule)


def _actor(side: Side, rule_name: str, endpoint: str) -> User:
    if rule_name == "course_student":
        return side.students[4] if endpoint.startswith("groups.") else side.students[0]
    return side.instructor


def _fuzz(app: Flask, client: FlaskClient, side: Side,
          variants: Callable[[Any, dict[str, Any]], Iterator[tuple[str, dict[str, Any]]]],
          *, may_save: bool = False) -> list[str]:
    problems = []
    for rule in _post_routes(app):
        rule_name = app.view_functions[rule.endpoint].access_rule
        _login(client, _actor(side, rule_name, rule.endpoint))
        url = _url(app, rule, side.code, side)
        for label, data in variants(rule, plausible_form(side)):
            before = snapshot()
            try:
                response = client.post(url, data=data)
            except Exception as exc:   # TESTING re-raises what would be a 500 page
                problems.append(f"{rule.endpoint} {label}: 500 {type(exc).__name__}: {exc}"[:300])
                continue
            changed = diff(before, snapshot())
            if response.status_code >= 500:
                problems.append(f"{rule.endpoint} {label}: {response.status_code}")
            elif changed and not may_save:
                problems.append(f"{rule.endpoint} {label}: saved {changed}")
            elif not changed and response.status_code in (200, 302) and not _flashes(
                    client) and not response.is_json and not (
                    response.status_code == 200 and ("error" in response.text.lower()
                                                      or "not" in response.text.lower())):
                problems.append(f"{rule.endpoint} {label}: {response.status_code} and no message")
            with client.session_transaction() as session:
                session.pop("_flashes", None)
    return problems


def test_missing_fields_are_refused_with_a_message(app: Flask, client: FlaskClient,
                                                   world: tuple[Side, Side]) -> None:
    a, _ = world
    # Endpoints where an empty POST is a complete, harmless request.
    # (one-button actions: with CSRF off in tests, an empty POST is the whole form).
    harmless = {"reviews.preview", "signup.wait", "signup.unwait", "groups.leave",
                "groups.lock", "courses.roster_links", "accounts.logout", "assignment.run",
                "assignment.publish",
                "grading.release_presentation", "grading.release_review",
                "grading.release_session", "groups.dissolve", "reviews.release",
                "groups.join_link", "live.start", "live.import_questions"}

    def empty(rule: Any, good: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if rule.endpoint not in harmless:
            yield "empty form", {}

    problems = _fuzz(app, client, a, empty)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_bad_numbers_are_refused_with_a_message(app: Flask, client: FlaskClient,
                                                world: tuple[Side, Side], bad: str) -> None:
    a, _ = world

    def numbers(rule: Any, good: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for key in ROUTE_NUMBERS.get(rule.endpoint, []):
            if (key, bad) in VALID_ODD:
                continue
            yield f"{key}={bad!r}", {**good, key: bad}

    problems = _fuzz(app, client, a, numbers)
    assert problems == [], "\n".join(problems)


def test_every_numeric_field_at_once_never_errors(app: Flask, client: FlaskClient,
                                                  world: tuple[Side, Side]) -> None:
    a, _ = world

    def all_bad(rule: Any, good: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for bad in ("nan", "1e308", "99999999999999999999999", "-5"):
            data = {**good, **{k: bad for k in NUMERIC_KEYS}}
            data.update({k: bad for k in good if k.startswith(("score-", "rank_", "g-"))})
            yield f"all={bad}", data

    problems = _fuzz(app, client, a, all_bad, may_save=True)
    assert problems == [], "\n".join(problems)


def test_long_and_unicode_text_never_errors(app: Flask, client: FlaskClient,
                                            world: tuple[Side, Side]) -> None:
    a, _ = world
    text_keys = ["reason", "note", "reply", "name", "code", "overall_comment", "summary",
                 "strengths", "questions-0", "payload", "original", "text"]

    def long_text(rule: Any, good: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "unicode", {**good, **{k: "\u202e\U0001F600 ş\x00" * 3 for k in text_keys}}
        yield "1 MB", {**good, **{k: ("x" * 99 + "ğ") * 1_700 for k in text_keys[:6]}}

    problems = _fuzz(app, client, a, long_text, may_save=True)
    assert problems == [], "\n".join(problems)


def test_a_body_over_the_limit_is_413_with_a_message(app: Flask, client: FlaskClient,
                                                     world: tuple[Side, Side]) -> None:
    a, _ = world
    _login(client, a.instructor)
    before = snapshot()
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post(f"/c/{a.code}/groups/new", data={"name": "x" * (limit + 10)})
    assert response.status_code == 413 and "MB" in response.text
    assert diff(before, snapshot()) == []


def _junk_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("junk.bin", b"\x00\x01 not a spreadsheet")
    return buffer.getvalue()


BAD_UPLOADS = {
    "png renamed .csv": ("data.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
    "zip of junk as .xlsx": ("data.xlsx", _junk_zip()),
    "garbage .xlsx": ("data.xlsx", b"not a zip at all"),
    "empty .csv": ("data.csv", b""),
    "empty .xlsx": ("data.xlsx", b""),
    "header only": ("data.csv", b"student_id,email\n"),
    "utf-16 csv": ("data.csv", "student_id,group\n1,ğ\n".encode("utf-16")),
    "latin-1 csv": ("data.csv", "student_id,first_name\n1,Ça\xe7\n".encode("latin-1")),
    "wrong extension": ("data.txt", b"a,b\n1,2\n"),
    "no name": ("", b"a,b\n1,2\n"),
    "csv formula": ("data.csv", b"student_id,midterm\n=1+1,=cmd|' /C calc'!A0\n"),
}
UPLOAD_ENDPOINTS = ["courses.roster_page", "groups.import_page", "assignment.import_page",
                    "gradebook.import_grades"]


@pytest.mark.parametrize("kind", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_with_a_message(app: Flask, client: FlaskClient,
                                                world: tuple[Side, Side], kind: str) -> None:
    a, _ = world
    name, content = BAD_UPLOADS[kind]
    _login(client, a.instructor)
    problems = []
    for endpoint in UPLOAD_ENDPOINTS:
        url = app.url_for(endpoint, course_code=a.code)
        before = snapshot()
        response = client.post(url, data={"file": (io.BytesIO(content), name)},
                               content_type="multipart/form-data")
        changed = diff(before, snapshot())
        if response.status_code != 422 or changed:
            problems.append(f"{endpoint} {kind}: {response.status_code}, changed {changed}")
    assert problems == [], "\n".join(problems)


def test_damaged_hidden_fields_are_refused(app: Flask, client: FlaskClient,
                                           world: tuple[Side, Side]) -> None:
    a, b = world
    _login(client, a.instructor)
    before = snapshot()
    confirm = f"/c/{a.code}/gradebook/import/confirm"
    for payload in ("not json", "{}", "[1, 2]", '[{"user_id": "x"}]', "[{}]",
                    f'[{{"user_id": {b.students[0].id}, "component": "midterm", "score": 50}}]',
                    f'[{{"user_id": {a.students[0].id}, "component": "midterm", "score": 1e308}}]',
                    f'[{{"user_id": {a.students[0].id}, "component": "nope", "score": 5}}]',
                    f'[{{"user_id": {a.students[0].id}, "component": "midterm", "score": NaN}}]',
                    '[{"user_id": 99999999999999999999999, "component": "midterm", "score": 5}]'):
        response = client.post(confirm, data={"payload": payload, "source": "x.csv"})
        assert response.status_code in (302, 422), payload
    grid = f"/c/{a.code}/gradebook/grid"
    for user_ids, original in (("abc", "{}"), ("1,2", "not json"), ("-1", "[]"),
                               (str(b.students[0].id), "{}"), ("99999999999999999999999", "{}")):
        response = client.post(grid, data={"user_ids": user_ids, "original": original,
                                           f"g-{b.students[0].id}-midterm": "5"})
        assert response.status_code in (302, 422), user_ids
    assert diff(before, snapshot()) == []


def test_odd_query_strings_never_error(app: Flask, client: FlaskClient,
                                       world: tuple[Side, Side]) -> None:
    a, _ = world
    problems = []
    for user, urls in (
            (a.instructor, [f"/c/{a.code}/gradebook/grid?page=", f"/c/{a.code}/gradebook?sort=%00",
                            f"/c/{a.code}/reviews/matrix?session=99999999999999999999999&sort=x",
                            f"/c/{a.code}/reviews/matrix?state=nope&q=%F0%9F%98%80",
                            f"/c/{a.code}/reviews/r/{a.review1.id}?version=99999999999999999999999",
                            f"/c/{a.code}/gradebook?dir=sideways&letter=%00&q=" + "a" * 5000]),
            (a.students[0], [f"/c/{a.code}/reviews/{a.session.id}/receipt?version=-3",
                             f"/c/{a.code}/reviews/{a.session.id}/receipt?version=99999999999999999999999"])):
        _login(client, user)
        for url in urls + [f"/c/{a.code}/gradebook/grid?page={p}"
                           for p in ("99999999999999999999999", "-4", "abc", "1e9")]:
            response = client.get(url)
            if response.status_code >= 500:
                problems.append(f"{url}: {response.status_code}")
    assert problems == [], "\n".join(problems)


def test_autosave_and_preview_refuse_odd_json(app: Flask, client: FlaskClient,
                                              world: tuple[Side, Side]) -> None:
    a, _ = world
    _login(client, a.students[4])
    before = snapshot()
    autosave = f"/c/{a.code}/reviews/{a.session.id}/autosave"
    for body in ([], "text", {"summary": 5}, {"questions": {"a": 1}},
                 {"questions": [None]}, {"summary": ["x"]}, {"version": {"x": 1}}):
        response = client.post(autosave, json=body)
        assert 400 <= response.status_code < 500 and response.json["error"], body
    response = client.post(autosave, data="{not json", content_type="application/json")
    assert response.status_code == 400
    for body in ({"text": 5}, {"text": "x" * 60_000}, {}, []):
        response = client.post(f"/c/{a.code}/reviews/preview", json=body)
        assert 400 <= response.status_code < 500 and response.json["error"], body
    assert diff(before, snapshot()) == []


def test_nul_characters_are_refused_before_any_view(app: Flask, client: FlaskClient,
                                                    world: tuple[Side, Side]) -> None:
    a, _ = world
    _login(client, a.instructor)
    before = snapshot()
    for url, kwargs in (
            (f"/c/{a.code}/groups/new", {"data": {"name": "ok", "other": ["fine", "bad\x00"]}}),
            (f"/c/{a.code}/reviews/matrix?q=a%00b", {}),
            (f"/c/{a.code}/reviews/preview", {"json": {"text": "a\x00b"}})):
        method = client.get if not kwargs else client.post
        response = method(url, **kwargs)
        assert response.status_code == 400 and "NUL character" in response.text, url
    assert diff(before, snapshot()) == []
