"""Web pages of the reviews capability: write/autosave/submit, receipts, staff matrix, reading
view, similarity check, release, excuses and the discussion digest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response as WerkzeugResponse

import io

from models import (
    PaperSession,
    Review,
    ReviewExcuse,
    ReviewStatus as RowStatus,
    User,
    db,
    utcnow,
)
from review.accounts.forms import EmptyForm
from review.core.errors import DomainError
from review.core.ids import MAX_ID
from review.courses.roster import course_sections
from review.permissions import (
    course_member,
    course_staff,
    course_student,
    is_staff,
    require,
)
from review.permissions import course_staff_can, prefetched_session, session_loaded_with_user
from review.reviews import analysis, exports, services
from review.reviews.forms import ExcuseForm, RaiseQuestionForm, ReviewForm
from review.reviews.policy import countdown_text, format_local
from review.reviews.rendering import render_markdown, usable_rendering
from review.reviews.services import (
    LateConfirmationNeeded,
    ReviewContent,
    ReviewStale,
    TEXT_SECTIONS,
)
from review.reviews.status import ReviewState, STATE_LABELS, presenting_user_ids, status_of_one

bp = Blueprint("reviews", __name__)

PREVIEW_MAX_CHARS = 50_000
#: Reviews per page of the reading view: all ~300 of a session on one page cost about 4x the
#: CPU of a bare 200-row page even reading only the stored HTML (issue 14: at most 4x), 50 cost
#: about 2x; the index and the numbering cover them all.
READING_PAGE_SIZE = 50


def _now() -> datetime:
    return utcnow()


def _session_or_404(session_id: int, *, with_paper: bool = False) -> PaperSession:
    # The user loader loaded the URL's session with the user and the course; pages that show
    # its week and paper load them with it instead.
    found, session = (False, None) if with_paper else prefetched_session(g.course, session_id)
    if not found:
        session = services.session_of_course(g.course, session_id, with_paper=with_paper)
    if session is None:
        abort(404)
    return session


def _render_sections(content: ReviewContent) -> dict[str, Any]:
    rendered: dict[str, Any] = {key: render_markdown(getattr(content, key))
                                for key, _, _ in TEXT_SECTIONS}
    rendered["questions"] = [render_markdown(q) for q in content.questions]
    return rendered


def _rendered_review(review: Review) -> dict[str, Any]:
    """The review's current content as HTML: the copy stored at submit while it is current.

    A submitted review's ``content_sha256`` is the hash of its ``content`` (both are set by
    submit_review alone; later edits go to ``revision``), so it is not recomputed here."""
    digest = (review.content_sha256 if review.status == RowStatus.submitted
              else services.content_sha256(review.content))
    stored = usable_rendering(review.rendered, digest)
    return stored if stored is not None else _render_sections(ReviewContent.from_dict(review.content))


def _template_helpers() -> dict[str, Any]:
    return {"sections": TEXT_SECTIONS, "state_labels": STATE_LABELS, "ReviewState": ReviewState}


# ---------------------------------------------------------------------------------- students


@bp.get("/c/<course_code>/reviews")
@course_member
def index(course_code: str) -> str | WerkzeugResponse:
    course = g.course
    if is_staff(g.enrollment):
        return redirect(url_for("reviews.matrix", course_code=course_code))
    now = _now()
    sessions = services.sessions_of(course)
    ids = [s.id for s in sessions]
    mine = {r.session_id: r for r in db.session.scalars(
        select(Review).where(Review.user_id == current_user.id, Review.session_id.in_(ids)))}
    excused = set(db.session.scalars(select(ReviewExcuse.session_id).where(
        ReviewExcuse.user_id == current_user.id, ReviewExcuse.session_id.in_(ids))))
    presenting = presenting_user_ids(ids)
    exempt_rule = services.rules_of(course).presenters_exempt
    grace_used = services.grace_days_used(course, current_user)
    rows = []
    for session in sessions:
        presenter = current_user.id in presenting.get(session.id, set())
        review = mine.get(session.id)
        status = status_of_one(review, session, now, excused=session.id in excused,
                               exempt=exempt_rule and presenter)
        class_reviews = services.class_reviews_open_to(
            session, now, submitted=review is not None and review.status == RowStatus.submitted,
            excused=session.id in excused, exempt=exempt_rule and presenter,
            grace_days_used_so_far=grace_used)
        rows.append({"session": session, "status": status, "review": review,
                     "class_reviews": class_reviews,
                     "presenter": presenter, "open": now >= session.review_opens_at,
                     "past": now > session.review_deadline,
                     "countdown": countdown_text(session.review_deadline, now)})
    from review.notifications.reminders import is_opted_out, reminders_enabled

    return render_template("reviews/index.html", course=course, rows=rows, now=now,
                           reminders_sent=reminders_enabled(course),
                           reminders_off=is_opted_out(course, current_user),
                           **_template_helpers())


def _editor(session: PaperSession, form: ReviewForm, review: Review | None, *, status: int = 200,
            previews: dict[str, Any] | None = None, late: Any = None,
            check: services.ContentCheck | None = None, stale_copy: Any = None) -> tuple[str, int]:
    now = _now()
    rules = services.rules_of(session.course)
    assessment = services.late_assessment(session, current_user, now)
    submitted = review is not None and review.status == RowStatus.submitted
    last = services.last_version_number(review) if submitted else None
    return render_template(
        "reviews/edit.html", course=session.course, session=session, form=form, review=review,
        rules=rules, now=now, previews=previews, late=late, check=check, assessment=assessment,
        countdown=countdown_text(session.review_deadline, now),
        is_open=now >= session.review_opens_at,
        submitted=submitted, versions=last or 0,
        closed=now > session.review_deadline,
        excused=services.is_excused(session, current_user),
        exempt=rules.presenters_exempt and services.is_presenter(session, current_user),
        stale_copy=stale_copy, **_template_helpers()), status


@bp.route("/c/<course_code>/reviews/<int:session_id>/write", methods=["GET", "POST"])
@session_loaded_with_user("POST")  # the form (GET) loads it with its week and paper
@course_student
def edit(course_code: str, session_id: int) -> tuple[str, int] | WerkzeugResponse:
    # The form shows the paper and its week; a save or submit does not need them.
    session = _session_or_404(session_id, with_paper=request.method == "GET")
    form = ReviewForm()
    if request.method == "GET":
        review = services.review_of(session, current_user)
        working_copy = (review.revision or review.content) if review else None
        form.fill(ReviewContent.from_dict(working_copy), review.version if review else None)
        return _editor(session, form, review)
    # A save or submit reads the review once, locked, in the service; the pages below that
    # show the form again read it themselves.
    if not form.validate_on_submit():
        flash("The form was incomplete; nothing was saved. Reload the page and try again.", "error")
        return _editor(session, form, services.review_of(session, current_user), status=400)
    content = form.content()
    if form.preview.data:
        return _editor(session, form, services.review_of(session, current_user),
                       previews=_render_sections(content), check=services.check_content(content))
    now = _now()
    try:
        if form.submit.data:
            result = services.submit_review(session, current_user, content, now,
                                            expected_version=form.expected_version(),
                                            confirm_late=form.confirm_late.data == "yes")
            version_number = result.number
            db.session.commit()
        else:
            saved = services.save_draft(session, current_user, content, now,
                                        expected_version=form.expected_version())
            db.session.commit()
    except LateConfirmationNeeded as exc:
        db.session.rollback()
        form.confirm_late.data = "yes"
        return _editor(session, form, services.review_of(session, current_user),
                       late=exc.assessment, check=services.check_content(content))
    except ReviewStale as exc:
        db.session.rollback()
        current = services.review_of(session, current_user)
        flash(str(exc), "error")
        return _stale_editor(session, form, current)
    except (StaleDataError, IntegrityError):
        # Another request (a double click, a second tab) committed between our read and write.
        db.session.rollback()
        current = services.review_of(session, current_user)
        if (form.submit.data and current is not None and current.status == RowStatus.submitted
                and current.content_sha256 == content.sha256()):
            flash("This exact text was already submitted; here is its receipt.", "info")
            return redirect(url_for("reviews.receipt", course_code=course_code,
                                    session_id=session.id))
        flash("This review was saved from another tab or window at the same moment. Nothing was "
              "saved from this page; your text is still below.", "error")
        return _stale_editor(session, form, current)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _editor(session, form, services.review_of(session, current_user), status=422,
                       check=services.check_content(content))
    if form.submit.data:
        if not result.created:
            flash("This exact text was already submitted; nothing new was recorded.", "info")
            return redirect(url_for("reviews.receipt", course_code=course_code,
                                    session_id=session_id, version=version_number))
        # The receipt confirms it from its own address: a flash would write the session cookie
        # here and again when the receipt reads it, two signings per submit of a deadline rush.
        return redirect(url_for("reviews.receipt", course_code=course_code, session_id=session_id,
                                version=version_number, submitted=1))
    flash(f"Draft saved at {format_local(saved.saved_at, session.course.timezone)}.", "success")
    return redirect(url_for("reviews.edit", course_code=course_code, session_id=session.id))


def _stale_editor(session: PaperSession, form: ReviewForm,
                  current: Review | None) -> tuple[str, int]:
    # Keep the student's text in the form; show the copy saved elsewhere; a deliberate second
    # save (now against the current version) replaces it.
    form.version.data = str(current.version) if current is not None else ""
    stale_copy = _render_sections(ReviewContent.from_dict(current.content)) if current else None
    return _editor(session, form, current, status=409, stale_copy=stale_copy)


@bp.post("/c/<course_code>/reviews/<int:session_id>/autosave")
@course_student
def autosave(course_code: str, session_id: int) -> tuple[Response, int]:
    data = request.get_json(silent=True)
    # An id of another course is "not found" before anything is said about the body.
    if not isinstance(data, dict):
        _session_or_404(session_id)
        return jsonify(ok=False, error="Expected a JSON object."), 400
    questions = data.get("questions") or []
    fields = [data.get(key, "") for key, _, _ in TEXT_SECTIONS]
    if not isinstance(questions, list) or not all(isinstance(v, str) for v in [*fields, *questions]):
        _session_or_404(session_id)
        return jsonify(ok=False, error="Every section must be text."), 400
    content = ReviewContent.build(**{key: data.get(key, "") for key, _, _ in TEXT_SECTIONS},
                                  questions=questions)
    version = data.get("version")
    expected = int(version) if isinstance(version, (int, str)) and str(version).isdigit() else None
    now = _now()
    try:
        # Most autosaves of a rush are the common case, written before the session is loaded.
        draft = services.autosave_draft_before_loading(g.course, current_user, session_id,
                                                       content, now, expected_version=expected)
        if draft is None:
            draft = services.autosave_draft(_session_or_404(session_id), current_user, content,
                                            now, expected_version=expected)
        # Read before the commit expires the course (a query afterwards, just to answer).
        saved = {"version": draft.version, "saved_at": draft.saved_at.isoformat(),
                 "saved_text": format_local(draft.saved_at, g.course.timezone)}
        db.session.commit()
    except ReviewStale as exc:
        db.session.rollback()
        return jsonify(ok=False, conflict=True, error=str(exc)), 409
    except (StaleDataError, IntegrityError):
        db.session.rollback()
        return jsonify(ok=False, conflict=True,
                       error="Saved from another tab at the same moment; reload the page."), 409
    except DomainError as exc:
        db.session.rollback()
        return jsonify(ok=False, error=str(exc)), 422
    return jsonify(ok=True, **saved), 200


@bp.post("/c/<course_code>/reviews/preview")
@course_member
def preview(course_code: str) -> tuple[Response, int]:
    data = request.get_json(silent=True)
    text = data.get("text") if isinstance(data, dict) else request.form.get("text")
    if not isinstance(text, str):
        return jsonify(error="Send the text to preview."), 400
    if len(text) > PREVIEW_MAX_CHARS:
        return jsonify(error=f"Too long to preview (over {PREVIEW_MAX_CHARS} characters)."), 413
    return jsonify(html=str(render_markdown(text))), 200


@bp.get("/c/<course_code>/reviews/<int:session_id>/receipt")
@course_student
def receipt(course_code: str, session_id: int) -> str:
    session = _session_or_404(session_id, with_paper=True)
    number = request.args.get("version", type=int)
    if number is not None and not 1 <= number <= MAX_ID:
        abort(404)  # no such version, and beyond what the database compares
    found = services.receipt_of(session, current_user, number)
    if found is None:
        abort(404)
    review, version, versions = found
    return render_template("reviews/receipt.html", course=session.course, session=session,
                           review=review, version=version, versions=versions,
                           just_submitted=request.args.get("submitted") == "1",
                           submitted_local=format_local(version.submitted_at,
                                                        session.course.timezone))


@bp.get("/c/<course_code>/reviews/r/<int:review_id>")
@course_member
def show(course_code: str, review_id: int) -> str | tuple[str, int]:
    review = db.session.get(Review, review_id)
    require(review is not None and review.session.course_id == g.course.id)
    now = _now()
    staff = is_staff(g.enrollment)
    own = review.user_id == current_user.id
    if not services.can_read_review(review, current_user, now):
        released = (review.session.reviews_released_at is not None
                    and now >= review.session.reviews_released_at)
        if staff or review.status != RowStatus.submitted or not released:
            abort(404)  # before the release, or a draft: not even said to exist
        access = services.class_reviews_access(review.session, current_user, now)
        return render_template("errors/error.html", status=403, title="Not yet",
                               message=access.message), 403
    if not staff and not own:
        if services.record_class_read(review.session, current_user, now):
            db.session.commit()
    named = staff or own or services.rules_of(g.course).release_mode == "named"
    version_number = request.args.get("version", type=int)
    content_dict = review.content
    if version_number and (staff or own):
        version = next((v for v in review.versions if v.number == version_number), None)
        require(version is not None)
        content_dict = version.content
    return render_template("reviews/show.html", course=g.course, review=review,
                           session=review.session, named=named, history=staff or own,
                           staff=staff, own=own, version_number=version_number,
                           rendered=(_rendered_review(review) if content_dict is review.content
                                     else _render_sections(ReviewContent.from_dict(content_dict))),
                           **_template_helpers())


@bp.get("/c/<course_code>/reviews/<int:session_id>/all")
@session_loaded_with_user("GET")
@course_member
def session_reviews(course_code: str, session_id: int) -> str | tuple[str, int]:
    """The reading view: every submitted review of a session, for staff; for a student once
    released and open to them (``services.class_reviews_access``), numbered in the anonymous
    order. A student's first visit is recorded for staff."""
    session = _session_or_404(session_id)
    now = _now()
    staff = is_staff(g.enrollment)
    released = session.reviews_released_at is not None and now >= session.reviews_released_at
    if not staff:
        access = services.class_reviews_access(session, current_user, now)
        if not access.allowed:
            return render_template("errors/error.html", status=403, title="Not yet",
                                   message=access.message), 403
        # A commit expires what the page shows (reloaded query by query): only for a first read.
        if services.record_class_read(session, current_user, now):
            db.session.commit()
    named = staff or services.rules_of(g.course).release_mode == "named"
    entries = services.reading_entries(session)
    if not named:
        entries = services.anonymous_order(entries, session, current_app.config["SECRET_KEY"])
    # Numbered over the whole list (the anonymous "Review N" is the same on every page); only
    # the page's reviews are read and shown.
    pages = max(1, -(-len(entries) // READING_PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    start = (page - 1) * READING_PAGE_SIZE
    shown = entries[start:start + READING_PAGE_SIZE]
    rows = services.reading_rows([e.id for e in shown])
    stored = {e.id: usable_rendering(rows[e.id].rendered, rows[e.id].content_sha256)
              for e in shown}
    # Stored at submit; rendered again only when the renderer has changed since.
    stale = services.review_contents([e.id for e in shown if stored[e.id] is None])
    items = [(entry, rows[entry.id], stored[entry.id] if stored[entry.id] is not None
              else _render_sections(stale[entry.id])) for entry in shown]
    # One url_for for the "open" links.
    review_href = url_for("reviews.show", course_code=course_code, review_id=1)[:-1]
    return render_template("reviews/session_reviews.html", course=g.course, session=session,
                           review_href=review_href, entries=entries, items=items, start=start,
                           page=page, pages=pages, page_size=READING_PAGE_SIZE,
                           named=named, staff=staff, released=released,
                           release_form=EmptyForm(), past=now > session.review_deadline,
                           **_template_helpers())


# ---------------------------------------------------------------------------------- staff


@bp.get("/c/<course_code>/reviews/matrix")
@course_staff
def matrix(course_code: str) -> str:
    args = request.args
    matrix = exports.review_matrix(g.course, _now(), state=args.get("state") or None,
                                   session_id=args.get("session", type=int),
                                   q=args.get("q", ""), sort=args.get("sort", "name"),
                                   section=args.get("section") or None,
                                   page=args.get("page", 1, type=int) or 1)
    form = ExcuseForm()
    # The student select is written by the template from the rows shown (no choices here).
    form.session_id.choices = _session_choices(matrix.sessions)
    # One url_for for the ~3,000 review links (a third of the page's time when built per cell).
    review_href = url_for("reviews.show", course_code=course_code, review_id=1)[:-1]
    return render_template("reviews/matrix.html", course=g.course, matrix=matrix, form=form,
                           args=args, sorts=exports.SORTS, states=list(ReviewState),
                           class_sections=course_sections(g.course), review_href=review_href,
                           session_label=exports.session_label,
                           read_before_submitting=exports.read_before_submitting,
                           **_template_helpers())


def _session_choices(sessions: list[PaperSession]) -> list[tuple[int, str]]:
    return [(s.id, exports.session_label(s)) for s in sessions]


@bp.get("/c/<course_code>/reviews/matrix.csv")
@course_staff
def matrix_csv(course_code: str) -> Response:
    data = exports.matrix_csv(exports.review_matrix(g.course, _now()))
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={course_code}-reviews.csv",
        "Cache-Control": "no-store"})


@bp.get("/c/<course_code>/reviews/matrix.xlsx")
@course_staff
def matrix_xlsx(course_code: str) -> Response:
    data = exports.export_xlsx(g.course, _now())
    return send_file(io.BytesIO(data), as_attachment=True,
                     download_name=f"{course_code}-reviews.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     max_age=0)


@bp.post("/c/<course_code>/reviews/excuse")
@course_staff_can("excuse_reviews")
def excuse(course_code: str) -> tuple[str, int] | WerkzeugResponse:
    form = ExcuseForm()
    form.student_id.choices = [(user.id, "") for user, _ in exports.course_students(g.course)]
    form.session_id.choices = _session_choices(services.sessions_of(g.course))
    remove = request.form.get("remove") == "yes"
    if remove:
        # Removing needs no reason; only the two ids.
        form.reason.data = form.reason.data or "-"
    if not form.validate_on_submit():
        flash("Choose a student and a week, and give a reason. " + " ".join(
            f"{getattr(form, name).label.text}: {'; '.join(errors)}"
            for name, errors in form.errors.items()), "error")
        return redirect(url_for("reviews.matrix", course_code=course_code))
    session = _session_or_404(form.session_id.data)
    student = db.session.get(User, form.student_id.data)
    require(student is not None)
    try:
        if remove:
            services.remove_excuse(session, student, current_user)
        else:
            services.excuse_student(session, student, form.reason.data, current_user)
        db.session.commit()
    except (DomainError, IntegrityError) as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, DomainError)
              else "That student was just excused by someone else.", "error")
        return redirect(url_for("reviews.matrix", course_code=course_code))
    flash(f"{student.full_name} is {'no longer ' if remove else ''}excused from week "
          f"{session.week.number}.", "success")
    return redirect(url_for("reviews.matrix", course_code=course_code))


@bp.post("/c/<course_code>/reviews/<int:session_id>/release")
@session_loaded_with_user("POST")
@course_staff_can("release")
def release(course_code: str, session_id: int) -> WerkzeugResponse:
    session = _session_or_404(session_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if request.form.get("withdraw") == "yes":
            services.withdraw_release(session, current_user)
            message = "The reviews are no longer visible to the class."
        else:
            services.release_reviews(session, current_user, _now())
            message = "The reviews are now visible to the class."
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(message, "success")
    return redirect(url_for("reviews.session_reviews", course_code=course_code,
                            session_id=session.id))


@bp.get("/c/<course_code>/reviews/<int:session_id>/similarity")
@session_loaded_with_user("GET")
@course_staff
def similarity(course_code: str, session_id: int) -> str:
    session = _session_or_404(session_id)
    state = analysis.analysis_of(session, analysis.SIMILARITY)
    threshold, rows = analysis.similarity_report(session, state)
    return render_template("reviews/similarity.html", course=g.course, session=session,
                           threshold=threshold, rows=rows, analysis=state)


# ---------------------------------------------------------------------------------- digest


@bp.get("/c/<course_code>/reviews/<int:session_id>/digest")
@session_loaded_with_user("GET")
@course_member
def digest(course_code: str, session_id: int) -> str:
    session = _session_or_404(session_id)
    now = _now()
    may_see, names = services.can_see_digest(session, current_user, now)
    require(may_see, status=403)
    state = analysis.analysis_of(session, analysis.DIGEST)
    clusters = analysis.session_digest(session, state)
    form = RaiseQuestionForm()
    students = services.students_of(g.course) if names else []
    form.raised_by_id.choices = [(0, "the asker")] + [(u.id, u.full_name) for u, _ in students]
    return render_template("reviews/digest.html", course=g.course, session=session,
                           clusters=clusters, names=names, staff=is_staff(g.enrollment),
                           past=now > session.review_deadline, form=form,
                           total=sum(c.count for c in clusters), analysis=state)


@bp.post("/c/<course_code>/reviews/<int:session_id>/digest/raised")
@session_loaded_with_user("POST")
@course_staff
def mark_raised(course_code: str, session_id: int) -> WerkzeugResponse:
    session = _session_or_404(session_id)
    form = RaiseQuestionForm()
    form.raised_by_id.choices = [(0, "the asker")] + [
        (u.id, u.full_name) for u, _ in services.students_of(g.course)]
    target = url_for("reviews.digest", course_code=course_code, session_id=session.id)
    if not form.validate_on_submit():
        flash("Choose a question to mark.", "error")
        return redirect(target)
    try:
        if form.unmark.data == "yes":
            services.unmark_question_raised(session, form.review_id.data, form.question_index.data)
            message = "Mark removed."
        else:
            services.mark_question_raised(session, form.review_id.data, form.question_index.data,
                                          form.raised_by_id.data or None, current_user)
            message = "Marked as raised; it counts as participation."
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("That question was just marked by someone else.", "info")
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(message, "success")
    return redirect(f"{target}#q-{form.review_id.data}-{form.question_index.data}")
