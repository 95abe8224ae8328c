"""Pages of the class session: before class, the live view (projector, phones), its JSON state,
the controls, the question queue, slides, and the report after class.

Addresses (``<week>`` is the week number of the paper session):
    /c/<code>/sessions/<week>             before class: staff and the session's presenters
    /c/<code>/sessions/<week>/live        the live view; controls are plain POST forms
    /c/<code>/sessions/<week>/live.json   its state for every member (ETag / If-None-Match)
    /c/<code>/sessions/<week>/report      after class (staff), and report.csv
    /c/<code>/sessions/<week>/review-ratings  presenters and staff rate the reviews' helpfulness

Live views follow by short polling of live.json (see README "The class session"): each poll is a
few indexed queries answered 304 while nothing changed, which gunicorn's sync workers serve
well; a held-open stream would tie up one sync worker per phone.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Callable, Optional

from flask import (Blueprint, Response, abort, current_app, flash, g, jsonify, redirect,
                   render_template, request, url_for)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as WerkzeugResponse

from models import PaperSession, Review, User, db, utcnow
from review.core.errors import DomainError
from review.live import services
from review.live.storage import SlideStore, SlideStoreError, slide_store
from review.live.forms import (ControlForm, MarkQuestionForm, QuestionForm, ReviewRatingForm,
                               SlidesForm, StartForm, VoteForm)
from review.permissions import course_member, course_staff, course_student, is_staff, require
from review.reviews.rendering import render_markdown
from review.reviews.services import students_of, submitted_reviews
from review.signup.presenters import presenters_by_slot
from review.spreadsheets import neutralise

bp = Blueprint("live", __name__)


def _now() -> datetime:
    return utcnow()


@bp.app_template_global("review_helpfulness")
def review_helpfulness(review_id: int) -> Optional[Any]:
    """The review's helpfulness ratings without names (the reviewer's feedback page shows them
    once released; the grading page shows them beside the review rubric)."""
    return services.helpfulness_of([review_id]).get(review_id)


@bp.app_template_global("measured_time")
def measured_time(slot_id: int) -> Optional[Any]:
    """The run sheet's record of a presentation, for the grader's time criterion."""
    return services.measured_minutes_by_slot([slot_id]).get(slot_id)


def _session_or_404(week: int) -> PaperSession:
    session = services.session_by_week(g.course, week)
    if session is None:
        abort(404)
    return session


def _live_url(week: int) -> str:
    return url_for("live.live", course_code=g.course.code, week=week)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _done(week: int, message: str, category: str, status: int = 200,
          target: Optional[str] = None) -> Any:
    """Answer a control or question request: JSON for live.js, else a flash and a redirect."""
    if _wants_json():
        return jsonify({"ok": category == "success", "message": message}), status
    flash(message, category)
    return redirect(target or _live_url(week))


def _act(week: int, action: Callable[[], Any], success: Callable[[Any], str] | str, *,
         refused_status: int) -> Any:
    """One user action: run it, commit once, and answer; a refusal rolls back and says why."""
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _done(week, str(exc), "error", refused_status)
    return _done(week, success(result) if callable(success) else success, "success")


def _first_error(form: Any) -> str:
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return "The form was incomplete; reload the page and try again."


def _peer_url(slot_id: int) -> str:
    return url_for("grading.peer_rate", course_code=g.course.code, slot_id=slot_id)


def _students() -> list[tuple[int, str]]:
    return [(user.id, user.full_name) for user, _ in students_of(g.course)]


# ============================================================================ before class


@bp.get("/c/<course_code>/sessions/<int:week>")
@course_member
def session_page(course_code: str, week: int) -> str:
    session = _session_or_404(week)
    staff = is_staff(g.enrollment)
    require(staff or services.is_session_presenter(session, current_user), status=403)
    now = _now()
    presenters = presenters_by_slot(g.course)
    slots = sorted(session.slots, key=lambda slot: slot.role.position)
    user_ids = {uid for slot in slots for uid in presenters.get(slot.id, [])}
    names = {user.id: user.full_name for user in db.session.scalars(
        select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    slides_form = SlidesForm()
    slides_form.slide_slot.choices = [(slot.id, f"{slot.role.name} ({slot.group.display_name})")
                                      for slot in slots if slot.group is not None
                                      and services.can_upload_slides(slot, current_user)]
    return render_template(
        "live/session.html", course=g.course, session=session, week=week, staff=staff,
        slots=slots, presenters={slot.id: [names[u] for u in presenters.get(slot.id, []) if u in names]
                                 for slot in slots},
        queue=services.question_queue(session), counts=services.review_counts(session),
        slides=services.latest_slides(session), versions=services.slide_versions(session),
        slides_form=slides_form, start_form=StartForm(), run=services.run_of(session),
        max_mb=_slides_max_bytes() // (1024 * 1024), now=now)


@bp.post("/c/<course_code>/sessions/<int:week>/questions/import")
@course_staff
def import_questions(course_code: str, week: int) -> WerkzeugResponse:
    session = _session_or_404(week)
    added = services.sync_digest_questions(session)
    db.session.commit()
    flash(f"{added} new question(s) from the reviews are in the queue.", "success")
    return redirect(url_for("live.session_page", course_code=course_code, week=week))


# ============================================================================ the live view


@bp.get("/c/<course_code>/sessions/<int:week>/live")
@course_member
def live(course_code: str, week: int) -> str:
    session = _session_or_404(week)
    now = _now()
    staff = is_staff(g.enrollment)
    data = services.state(session.id, lambda: session, current_user, now, staff=staff,
                          fingerprint=services.state_fingerprint(session.id), peer_url=_peer_url)
    mark_form = MarkQuestionForm()
    # The projector view (for the room) shows neither names nor controls, whoever is signed in.
    projector = request.args.get("view") == "projector"
    mark_form.credited_id.choices = [(0, "the asker")] + _students() if staff and not projector else []
    slots = {slot.id: slot for slot in session.slots}
    slides = [(slots[slot_id], deck) for slot_id, deck in services.latest_slides(session).items()
              if services.can_download_slides(slots[slot_id], current_user, now)]
    slides.sort(key=lambda pair: pair[0].role.position)
    return render_template(
        "live/live.html", course=g.course, session=session, week=week, state=data, staff=staff,
        slides=slides,
        names=staff and not projector, projector=projector,
        student=not staff, control_form=ControlForm(), start_form=StartForm(),
        question_form=QuestionForm(), vote_form=VoteForm(), mark_form=mark_form,
        json_url=url_for("live.live_json", course_code=course_code, week=week))


@bp.get("/c/<course_code>/sessions/<int:week>/live.json")
@course_member
def live_json(course_code: str, week: int) -> Response:
    session_id = services.session_id_by_week(g.course, week)
    if session_id is None:
        abort(404)
    now = _now()
    staff = is_staff(g.enrollment)
    # The tag is read before the state: a change in between makes the next poll fetch again,
    # never the reverse (an old state under a new tag).
    fingerprint = services.state_fingerprint(session_id)
    etag = services.state_etag(fingerprint, current_user, now, staff=staff)
    headers = {"Cache-Control": "private, no-cache"}
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
    else:
        response = jsonify(services.state(session_id, lambda: _session_or_404(week), current_user,
                                          now, staff=staff, fingerprint=fingerprint,
                                          peer_url=_peer_url))
        response.headers.update(headers)
    response.set_etag(etag)
    return response


@bp.post("/c/<course_code>/sessions/<int:week>/live/start")
@course_staff
def start(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    return _act(week, lambda: services.start(session, current_user, _now()),
                "The run sheet has started.", refused_status=409)


@bp.post("/c/<course_code>/sessions/<int:week>/live/control")
@course_member
def control(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    form = ControlForm()
    if not form.validate_on_submit():
        return _done(week, _first_error(form), "error", 422)
    now = _now()
    action, expected = form.action.data, form.expected_segment.data
    minutes = form.minutes.data or 1
    steps: dict[str, tuple[Callable[[], Any], str]] = {
        "next": (lambda: services.advance(session, current_user, expected, now), "Moved on."),
        "pause": (lambda: services.pause(session, current_user, expected, now), "Paused."),
        "resume": (lambda: services.resume(session, current_user, expected, now), "Resumed."),
    }
    step, message = steps.get(action, (
        lambda: services.extend(session, current_user, expected, minutes, now),
        f"Extended by {minutes} minute(s)."))
    return _act(week, step, message, refused_status=409)


# ============================================================================ questions


@bp.post("/c/<course_code>/sessions/<int:week>/questions")
@course_student
def add_question(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    form = QuestionForm()
    if not form.validate_on_submit():
        return _done(week, _first_error(form), "error", 422)
    return _act(week, lambda: services.add_question(session, current_user, form.text.data or "",
                                                    _now()),
                "Your question is in the queue.", refused_status=422)


@bp.post("/c/<course_code>/sessions/<int:week>/questions/vote")
@course_student
def vote(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    form = VoteForm()
    if not form.validate_on_submit():
        return _done(week, _first_error(form), "error", 422)
    question = services.question_of(session, form.question_id.data)
    if question is None:
        abort(404)
    return _act(week, lambda: services.toggle_vote(session, question, current_user),
                lambda voted: "Vote counted." if voted else "Vote taken back.",
                refused_status=422)


@bp.post("/c/<course_code>/sessions/<int:week>/questions/mark")
@course_staff
def mark_question(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    form = MarkQuestionForm()
    form.credited_id.choices = [(0, "the asker")] + _students()
    if not form.validate_on_submit():
        return _done(week, _first_error(form), "error", 422)
    question = services.question_of(session, form.question_id.data)
    if question is None:
        abort(404)
    return _act(week, lambda: services.mark_question(session, question, current_user,
                                                     form.status.data,
                                                     form.credited_id.data or None, _now()),
                f"Marked {form.status.data}; the participation is recorded.",
                refused_status=422)


# ============================================================================ slides


def _slides_max_bytes() -> int:
    return int(current_app.config.get("SLIDES_MAX_BYTES") or services.DEFAULT_SLIDES_MAX_BYTES)


def _slide_store() -> SlideStore:
    # One store per app: the S3 client is built once, on the first slide that needs it.
    store = current_app.extensions.get("slide_store")
    if store is None:
        store = current_app.extensions["slide_store"] = slide_store(current_app.config,
                                                                    current_app.instance_path)
    return store


@bp.post("/c/<course_code>/sessions/<int:week>/slides")
@course_member
def upload_slides(course_code: str, week: int) -> WerkzeugResponse:
    session = _session_or_404(week)
    target = url_for("live.session_page", course_code=course_code, week=week)
    limit = _slides_max_bytes()
    # The slides' own limit, not the site-wide one, and a message naming it.
    request.max_content_length = limit + 64 * 1024
    try:
        form = SlidesForm()
    except RequestEntityTooLarge:
        flash(f"The slides are larger than the limit of {limit // (1024 * 1024)} MB.", "error")
        return redirect(target)
    form.slide_slot.choices = [(slot.id, slot.role.name) for slot in session.slots]
    if not form.validate_on_submit():
        flash(_first_error(form), "error")
        return redirect(target)
    slot = next(slot for slot in session.slots if slot.id == form.slide_slot.data)
    upload = form.file.data
    data = upload.read(limit + 1) if upload and upload.filename else None
    store = _slide_store()
    try:
        deck = services.save_slides(slot, current_user, filename=upload.filename if data else "",
                                    data=data, url=form.url.data or "", store=store,
                                    max_bytes=limit, now=_now())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target)
    stored_name = deck.stored_name
    try:
        db.session.commit()
    except SQLAlchemyError:
        # The file is already stored: without its row nothing refers to it, so remove it.
        db.session.rollback()
        if stored_name:
            store.delete(stored_name)
        current_app.logger.exception("slides: the upload's row could not be saved")
        flash("The slides could not be saved (the database did not answer); nothing was kept. "
              "Try again in a moment.", "error")
        return redirect(target)
    flash(f"Slides saved as version {deck.version}.", "success")
    return redirect(target)


@bp.get("/c/<course_code>/sessions/<int:week>/slides/<int:deck_id>")
@course_member
def slides(course_code: str, week: int, deck_id: int) -> WerkzeugResponse:
    session = _session_or_404(week)
    deck = services.deck_of(session, deck_id)
    if deck is None:
        abort(404)
    slot = next(slot for slot in session.slots if slot.id == deck.slot_id)
    if not services.can_download_slides(slot, current_user, _now()):
        flash("The slides can be downloaded once the session starts.", "info")
        return redirect(_live_url(week))
    if deck.url:
        return redirect(deck.url)
    try:
        return _slide_store().download(deck.stored_name or "",
                                       download_name=deck.original_name or "slides.pdf")
    except SlideStoreError as exc:
        flash(str(exc), "error")
        return redirect(_live_url(week))


# ============================================================================ after class


@bp.get("/c/<course_code>/sessions/<int:week>/report")
@course_staff
def report(course_code: str, week: int) -> str:
    session = _session_or_404(week)
    return render_template("live/report.html", course=g.course, session=session, week=week,
                           report=services.session_report(session))


@bp.get("/c/<course_code>/sessions/<int:week>/report.csv")
@course_staff
def report_csv(course_code: str, week: int) -> Response:
    session = _session_or_404(week)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in services.report_rows(session, services.session_report(session)):
        writer.writerow([neutralise(cell) for cell in row])
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{course_code}-week{week}-session.csv"'})


# ============================================================================ feedback on reviews


@bp.route("/c/<course_code>/sessions/<int:week>/review-ratings", methods=["GET", "POST"])
@course_member
def review_ratings(course_code: str, week: int) -> Any:
    session = _session_or_404(week)
    now = _now()
    require(services.can_rate_reviews(session, current_user, now), status=403)
    target = url_for("live.review_ratings", course_code=course_code, week=week)
    if request.method == "POST":
        form = ReviewRatingForm()
        if not form.validate_on_submit():
            flash(_first_error(form), "error")
            return redirect(target)
        review = db.session.get(Review, form.review_id.data)
        if review is None or review.session_id != session.id:
            abort(404)
        try:
            services.rate_review(session, review, current_user, form.helpfulness.data,
                                 list(form.tags.data or []), now)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(target)
        flash("Rating saved.", "success")
        return redirect(f"{target}#review-{review.id}")
    reviews = [review for review in submitted_reviews(session) if review.user_id != current_user.id]
    staff = is_staff(g.enrollment)
    return render_template(
        "live/review_ratings.html", course=g.course, session=session, week=week, staff=staff,
        reviews=reviews, mine=services.my_review_ratings(session, current_user),
        summary=services.helpfulness_of([r.id for r in reviews]) if staff else {},
        scale=services.HELPFULNESS_SCALE, tags=services.HELPFULNESS_TAGS,
        form=ReviewRatingForm(formdata=None), render_markdown=render_markdown)
