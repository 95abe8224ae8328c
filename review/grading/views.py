"""Web pages of the grading capability: staff grading, release, regrades, peer ratings, feedback.

Staff (``/c/<code>/grading/...``): the grading overview, a presentation's grading page with
member adjustments, the review queue ("save and next ungraded"), participation per session,
flagged disagreements, peer agreement, the regrade queue and the grade audit log.
Students: ``/c/<code>/feedback`` (released feedback, regrade requests) and ``/c/<code>/peer``
(rate presentations while a session's window is open).
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response as WerkzeugResponse

from models import (
    AuditEntry,
    CourseRole,
    Enrollment,
    PaperSession,
    ParticipationRecord,
    PresentationRole,
    RegradeRequest,
    Review,
    Score,
    ScoreTarget,
    Slot,
    User,
    db,
    utcnow,
)
from review.core.errors import DomainError
from review.courses.roster import course_sections
from review.grading import peer as peer_service
from review.grading import services
from review.grading.forms import (
    AdjustmentForm,
    ManualParticipationForm,
    PeerForm,
    RegradeRequestForm,
    ReleaseForm,
    ResolveRegradeForm,
    ScoreForm,
    rubric_values,
)
from review.grading.results import (
    participation_counts,
    participation_scores,
    presentation_results,
    review_score_details,
    review_scores,
    score_pct,
    slot_results,
)
from review.gradebook.loader import per_grades_revision
from review.groups import impact
from review.permissions import course_staff, course_student, require
from review.permissions import course_staff_can
from review.reviews.rendering import render_markdown
from review.signup.presenters import slot_presenters

bp = Blueprint("grading", __name__)


def _refused(exc: DomainError) -> None:
    db.session.rollback()
    flash(str(exc), "error")


def _lookup(finder: Any, *args: Any) -> Any:
    """Load an item through a service finder; an item of another course is a 404."""
    try:
        return finder(g.course, *args)
    except services.GradingRefused:
        require(False)


# ============================================================================ staff overview


@bp.get("/c/<course_code>/grading")
@course_staff
def index(course_code: str) -> str:
    course = g.course
    sessions = list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id == course.id)
        .options(joinedload(PaperSession.week), joinedload(PaperSession.paper))
        .order_by(PaperSession.starts_at)))
    now = utcnow()
    # Both are kept per grades revision, which every score, review and release moves on: the
    # queue count alone reads every review of the course (~15 ms for 3,000).
    submitted, graded = per_grades_revision(
        course, now, "review_queue_counts", lambda: services.review_queue_counts(course, now))
    slots = per_grades_revision(course, now, "slot_results", lambda: slot_results(course))
    open_regrades = db.session.scalar(select(func.count(RegradeRequest.id)).where(
        RegradeRequest.course_id == course.id, RegradeRequest.status == "open"))
    return render_template("grading/index.html", course=course, slots=slots,
                           sessions=sessions, submitted=submitted, graded=graded,
                           open_regrades=open_regrades or 0, release_form=ReleaseForm(),
                           sections=course_sections(course))


# ============================================================================ scoring pages


def _score_page(item: services.ScoreItem, *, title: str, template_args: dict[str, Any],
                form: ScoreForm | None = None, conflict: Score | None = None,
                status: int = 200) -> tuple[str, int] | WerkzeugResponse:
    course = g.course
    existing = services.own_score(item, current_user)
    try:
        rubric, _ = services.rubric_for_item(course, item, existing)
    except services.RubricMissing as exc:
        # A rubric file removed from the deployment after the course was imported.
        flash(str(exc), "error")
        return redirect(url_for("grading.index", course_code=course.code))
    rubric = services.rubric_as_shown(rubric, item.slot.role if item.slot else None)
    if form is None:
        form = ScoreForm(formdata=None, obj=None)
        form.version.data = existing.version if existing else 0
        form.overall_comment.data = existing.overall_comment if existing else ""
    chosen = dict(existing.values) if existing else {}
    comments = dict(existing.comments) if existing else {}
    if request.method == "POST" and conflict is None:
        posted_values, posted_comments = rubric_values(request.form)
        chosen = {key: value for key, value in services.parse_values(posted_values).items()}
        comments = posted_comments
    all_scores = services.scores_of(item)
    return render_template("grading/grade.html", course=course, item=item, rubric=rubric,
                           form=form, chosen=chosen, comments=comments, existing=existing,
                           conflict=conflict, all_scores=all_scores, score_pct=score_pct,
                           title=title, **template_args), status


def _save(item: services.ScoreItem, form: ScoreForm) -> Score | None | services.StaleScore:
    values, comments = rubric_values(request.form)
    try:
        score = services.save_score(
            g.course, current_user, item, values=services.parse_values(values),
            comments=comments, overall_comment=form.overall_comment.data or "",
            loaded_version=form.version.data or 0, reason=form.reason.data or "")
    except services.StaleScore as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return exc
    except DomainError as exc:
        _refused(exc)
        return None
    db.session.commit()
    flash(f"Saved: {score.total:g} / {score.max_total:g}.", "success")
    return score


def _after_stale(item: services.ScoreItem, stale: services.StaleScore,
                 **page: Any) -> tuple[str, int] | WerkzeugResponse:
    current = services.own_score(item, current_user)
    form = ScoreForm(formdata=None)
    form.version.data = current.version if current else 0
    form.overall_comment.data = current.overall_comment if current else ""
    return _score_page(item, form=form, conflict=current, status=409, **page)


def _presentation_page_args(slot: Slot) -> dict[str, Any]:
    # The students who gave the talk, not whoever is in the group today.
    members = list(db.session.scalars(
        select(User).where(User.id.in_(slot_presenters(slot))).order_by(User.last_name)))
    adjustments = {adj.user_id: adj for adj in db.session.scalars(
        select(services.models.MemberAdjustment)
        .where(services.models.MemberAdjustment.slot_id == slot.id))}
    results = {r.user_id: r for r in presentation_results(g.course) if r.slot_id == slot.id}
    return {"slot": slot, "members": members, "adjustments": adjustments, "results": results,
            "adjust_form": AdjustmentForm(formdata=None),
            "is_instructor": g.enrollment.role == CourseRole.instructor,
            "release_form": ReleaseForm(formdata=None)}


def _score_form(item: services.ScoreItem, page: dict[str, Any],
                next_url: Callable[[ScoreForm], str]) -> Any:
    """The one flow of every rubric score page: show; or validate, save, and go on."""
    form = ScoreForm()
    if request.method != "POST":
        return _score_page(item, **page)
    if not form.validate_on_submit():
        return _score_page(item, form=form, status=422, **page)
    outcome = _save(item, form)
    if isinstance(outcome, services.StaleScore):
        return _after_stale(item, outcome, **page)
    if outcome is None:
        return _score_page(item, form=form, status=422, **page)
    return redirect(next_url(form))


@bp.route("/c/<course_code>/grading/presentations/<int:slot_id>", methods=["GET", "POST"])
@course_staff
def grade_presentation(course_code: str, slot_id: int) -> Any:
    item = _lookup(services.presentation_item, slot_id)
    slot = item.slot
    page = {"title": f"{slot.role.name}: {slot.session.paper.title}",
            "template_args": _presentation_page_args(slot)}
    return _score_form(item, page, lambda form: url_for(
        "grading.grade_presentation", course_code=course_code, slot_id=slot_id))


@bp.post("/c/<course_code>/grading/presentations/<int:slot_id>/adjust")
@course_staff
def adjust(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _lookup(services.held_slot_of_course, slot_id)
    form = AdjustmentForm()
    if not form.validate_on_submit():
        flash("An adjustment needs a member, a change between -100 and 100, and a reason.", "error")
    else:
        try:
            services.adjust_member(g.course, current_user, slot, form.user_id.data,
                                   form.delta_pct.data, form.reason.data)
        except DomainError as exc:
            _refused(exc)
        else:
            db.session.commit()
            flash("Adjustment saved.", "success")
    return redirect(url_for("grading.grade_presentation", course_code=course_code,
                            slot_id=slot_id))


@bp.get("/c/<course_code>/grading/reviews")
@course_staff
def review_queue(course_code: str) -> WerkzeugResponse | str:
    """The next ungraded review; ``?section=`` keeps the queue to one section's students."""
    section = request.args.get("section") or None
    queue = services.review_queue(g.course, utcnow(), section)
    first = queue.next_ungraded()
    if first is not None:
        return redirect(url_for("grading.grade_review", course_code=course_code,
                                review_id=first, section=section))
    return render_template("grading/queue_done.html", course=g.course, total=len(queue.order),
                           section=section)


@bp.route("/c/<course_code>/grading/reviews/<int:review_id>", methods=["GET", "POST"])
@course_staff
def grade_review(course_code: str, review_id: int) -> Any:
    item = _lookup(services.review_item, review_id)
    section = request.args.get("section") or None
    queue = services.review_queue(g.course, utcnow(), section)
    title = "Review queue" + (f" of section {section}" if section else "")
    page = {"title": f"{title}: review by {item.review.user.full_name}",
            "template_args": {"review": item.review, "render_markdown": render_markdown,
                              "progress": (queue.graded_count, len(queue.order))}}

    def next_url(form: ScoreForm) -> str:
        if not form.save_next.data:
            return url_for("grading.grade_review", course_code=course_code, review_id=review_id,
                           section=section)
        following = services.review_queue(g.course, utcnow(), section).next_ungraded(
            after=review_id)
        if following is None:
            return url_for("grading.review_queue", course_code=course_code, section=section)
        return url_for("grading.grade_review", course_code=course_code, review_id=following,
                       section=section)

    return _score_form(item, page, next_url)


# ============================================================================ participation


@bp.get("/c/<course_code>/grading/participation/<int:session_id>")
@course_staff
def participation(course_code: str, session_id: int) -> str:
    session = _lookup(services.session_of_course, session_id)
    students = list(db.session.execute(
        select(User, Enrollment.student_number).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == g.course.id, Enrollment.role == CourseRole.student)
        .order_by(User.last_name, User.first_name)).tuples())
    counts = participation_counts(g.course)
    pcts = participation_scores(g.course)
    records = list(db.session.scalars(select(ParticipationRecord).where(
        ParticipationRecord.session_id == session.id, ParticipationRecord.kind == "manual")))
    return render_template("grading/participation.html", course=g.course, session=session,
                           students=students, counts=counts, pcts=pcts, records=records,
                           manual_form=ManualParticipationForm(formdata=None))


@bp.post("/c/<course_code>/grading/participation/<int:session_id>/manual")
@course_staff
def participation_manual(course_code: str, session_id: int) -> WerkzeugResponse:
    session = _lookup(services.session_of_course, session_id)
    form = ManualParticipationForm()
    if not form.validate_on_submit():
        flash("Manual points need a student, points between 0.5 and 10, and a note.", "error")
    else:
        try:
            services.add_manual_participation(g.course, current_user, session,
                                              form.user_id.data, form.points.data, form.note.data)
        except DomainError as exc:
            _refused(exc)
        else:
            db.session.commit()
            flash("Participation points added.", "success")
    return redirect(url_for("grading.participation", course_code=course_code,
                            session_id=session_id))


@bp.route("/c/<course_code>/grading/participation/<int:session_id>/<int:user_id>",
          methods=["GET", "POST"])
@course_staff
def grade_participation(course_code: str, session_id: int, user_id: int) -> Any:
    item = _lookup(services.participation_item, session_id, user_id)
    student = db.session.get(User, user_id)
    questions, manual = participation_counts(g.course).get((session_id, user_id), (0, 0.0))
    page = {"title": f"Participation of {student.full_name}",
            "template_args": {"questions": questions, "manual": manual}}
    return _score_form(item, page, lambda form: url_for(
        "grading.participation", course_code=course_code, session_id=session_id))


# ============================================================================ release


@bp.post("/c/<course_code>/grading/sessions/<int:session_id>/release")
@course_staff_can("release")
def release_session(course_code: str, session_id: int) -> WerkzeugResponse | str:
    session = _lookup(services.session_of_course, session_id)
    form = ReleaseForm()
    if form.validate_on_submit():
        release = form.action.data == "release"
        if not release and not _confirmed():
            return _confirm_withdraw(impact.withdraw_session_impact(session),
                                     url_for("grading.index", course_code=course_code))
        try:
            services.release_session(g.course, current_user, session, utcnow(), release=release,
                                     confirmed=form.confirm.data == "1")
        except services.ReleaseNeedsConfirmation as exc:
            db.session.rollback()
            return render_template("grading/release_confirm.html", course=g.course,
                                   session=session, warnings=exc.warnings)
        except DomainError as exc:
            _refused(exc)
        else:
            db.session.commit()
            flash(f"Feedback of week {session.week.number} "
                  f"{'released to students' if release else 'withdrawn'}.", "success")
    return redirect(url_for("grading.index", course_code=course_code))


def _confirmed() -> bool:
    """The second step of withdrawing: its confirmation page posted confirm=1."""
    return request.form.get("confirm") == "1"


def _confirm_withdraw(consequences: impact.Impact, back: str) -> str:
    """Withdrawing released feedback takes it away from students: say from whom, first."""
    return render_template("confirm.html", course=g.course, impact=consequences,
                           action=request.path, fields=[("action", "withdraw")], cancel=back)


def _release(item: services.ScoreItem, back: str) -> str | WerkzeugResponse:
    form = ReleaseForm()
    if form.validate_on_submit():
        release = form.action.data == "release"
        if not release and not _confirmed():
            return _confirm_withdraw(
                impact.withdraw_presentation_impact(g.course, item.slot, utcnow())
                if item.slot is not None else impact.withdraw_review_impact(item.review), back)
        services.release_item(g.course, current_user, item, utcnow(), release=release)
        db.session.commit()
        flash("Feedback released to the student(s)." if release
              else "Release withdrawn: students no longer see this feedback.", "success")
    return redirect(back)


@bp.post("/c/<course_code>/grading/presentations/<int:slot_id>/release")
@course_staff_can("release")
def release_presentation(course_code: str, slot_id: int) -> str | WerkzeugResponse:
    return _release(_lookup(services.presentation_item, slot_id),
                    url_for("grading.grade_presentation", course_code=course_code, slot_id=slot_id))


@bp.post("/c/<course_code>/grading/reviews/<int:review_id>/release")
@course_staff_can("release")
def release_review(course_code: str, review_id: int) -> str | WerkzeugResponse:
    return _release(_lookup(services.review_item, review_id),
                    url_for("grading.grade_review", course_code=course_code, review_id=review_id))


# ============================================================================ flags, peers, audit


@bp.get("/c/<course_code>/grading/flagged")
@course_staff
def flagged(course_code: str) -> str:
    presentations = {r.slot_id: r for r in presentation_results(g.course) if r.disagreement}
    reviews = {rid: c for rid, c in review_score_details(g.course).items() if c.disagreement}
    review_rows = {review.id: review for review in db.session.scalars(
        select(Review).where(Review.id.in_(list(reviews)))
        .options(joinedload(Review.user), joinedload(Review.session)
                 .joinedload(PaperSession.week)))} if reviews else {}
    return render_template("grading/flagged.html", course=g.course,
                           presentations=list(presentations.values()), reviews=reviews,
                           review_rows=review_rows)


@bp.get("/c/<course_code>/grading/peer")
@course_staff
def peer_stats(course_code: str) -> str:
    summary = peer_service.peer_summary(g.course)
    return render_template("grading/peer_stats.html", course=g.course, summary=summary)


@bp.get("/c/<course_code>/grading/regrades")
@course_staff
def regrades(course_code: str) -> str:
    requests = list(db.session.scalars(
        select(RegradeRequest).where(RegradeRequest.course_id == g.course.id)
        .order_by(RegradeRequest.status != "open", RegradeRequest.created_at)))
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_([r.user_id for r in requests])))} if requests else {}
    return render_template("grading/regrades.html", course=g.course, requests=requests,
                           users=users, form=ResolveRegradeForm(formdata=None))


@bp.post("/c/<course_code>/grading/regrades/<int:request_id>")
@course_staff_can("resolve_regrades")
def resolve_regrade(course_code: str, request_id: int) -> WerkzeugResponse:
    regrade = db.get_or_404(RegradeRequest, request_id)
    require(regrade.course_id == g.course.id)
    form = ResolveRegradeForm()
    if not form.validate_on_submit():
        flash("Choose an outcome and write a reply.", "error")
    else:
        try:
            services.resolve_regrade(g.course, current_user, regrade, outcome=form.outcome.data,
                                     reply=form.reply.data)
        except DomainError as exc:
            _refused(exc)
        else:
            db.session.commit()
            flash("Regrade request resolved.", "success")
    return redirect(url_for("grading.regrades", course_code=course_code))


@bp.get("/c/<course_code>/grading/audit")
@course_staff
def audit_log(course_code: str) -> str:
    entries = list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.course_id == g.course.id,
                                 AuditEntry.category == "grade")
        .options(joinedload(AuditEntry.actor)).order_by(AuditEntry.at.desc()).limit(500)))
    return render_template("grading/audit.html", course=g.course, entries=entries)


# ============================================================================ students


@bp.get("/c/<course_code>/feedback")
@course_student
def feedback(course_code: str) -> str:
    course = g.course
    mine = [r for r in presentation_results(course, user_id=current_user.id) if r.released]
    reviews = services.released_reviews(course, current_user.id)
    updated_slots, updated_reviews = services.updated_after_release(
        course, slot_ids=[r.slot_id for r in mine], review_ids=[r.id for r in reviews])
    return render_template("grading/feedback.html", course=course, presentations=mine,
                           reviews=reviews,
                           percentages=review_scores(course, user_id=current_user.id),
                           updated_slots=updated_slots, updated_reviews=updated_reviews)


def _feedback_page(*, scores: list[Score], regrade: RegradeRequest | None, title: str,
                   regrade_action: str, extra: dict[str, Any],
                   role: PresentationRole | None = None) -> str:
    def shown(score: Score) -> Any:
        return services.rubric_as_shown(services.stored_rubric(score.rubric), role)

    rubric = shown(scores[0]) if scores else None
    return render_template("grading/feedback_item.html", course=g.course, scores=scores,
                           rubric=rubric, regrade=regrade, title=title, rubric_for=shown,
                           regrade_action=regrade_action,
                           regrade_form=RegradeRequestForm(formdata=None), **extra)


@bp.get("/c/<course_code>/feedback/presentations/<int:slot_id>")
@course_student
def feedback_presentation(course_code: str, slot_id: int) -> str:
    slot = _lookup(lambda course, sid: services.student_slot(course, current_user, sid), slot_id)
    scores = services.scores_of(services.ScoreItem(ScoreTarget.presentation, slot=slot))
    result = next((r for r in presentation_results(g.course, user_id=current_user.id)
                   if r.slot_id == slot.id), None)
    regrade = db.session.scalar(select(RegradeRequest).where(
        RegradeRequest.user_id == current_user.id, RegradeRequest.slot_id == slot.id))
    return _feedback_page(
        scores=scores, regrade=regrade, title=f"{slot.role.name}: {slot.session.paper.title}",
        role=slot.role,
        regrade_action=url_for("grading.regrade_presentation", course_code=course_code,
                               slot_id=slot.id),
        extra={"result": result, "peer": peer_service.peer_summary_for_slot(g.course, slot),
               "peer_rubric": _peer_rubric()})


def _peer_rubric() -> Any:
    try:
        return services.course_rubric(g.course, "peer")
    except DomainError:
        return None


@bp.get("/c/<course_code>/feedback/reviews/<int:review_id>")
@course_student
def feedback_review(course_code: str, review_id: int) -> str:
    review = _lookup(lambda course, rid: services.student_review(course, current_user, rid),
                     review_id)
    scores = services.scores_of(services.ScoreItem(ScoreTarget.review, review=review))
    combined = review_score_details(g.course, user_id=current_user.id).get(review.id)
    regrade = db.session.scalar(select(RegradeRequest).where(
        RegradeRequest.user_id == current_user.id, RegradeRequest.review_id == review.id))
    return _feedback_page(
        scores=scores, regrade=regrade, title=f"Your review of week {review.session.week.number}",
        regrade_action=url_for("grading.regrade_review", course_code=course_code,
                               review_id=review.id),
        extra={"combined": combined, "result": None, "peer": None, "review": review})


@bp.post("/c/<course_code>/feedback/presentations/<int:slot_id>/regrade")
@course_student
def regrade_presentation(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _lookup(lambda course, sid: services.student_slot(course, current_user, sid), slot_id)
    _request_regrade(slot=slot)
    return redirect(url_for("grading.feedback_presentation", course_code=course_code,
                            slot_id=slot_id))


@bp.post("/c/<course_code>/feedback/reviews/<int:review_id>/regrade")
@course_student
def regrade_review(course_code: str, review_id: int) -> WerkzeugResponse:
    review = _lookup(lambda course, rid: services.student_review(course, current_user, rid),
                     review_id)
    _request_regrade(review=review)
    return redirect(url_for("grading.feedback_review", course_code=course_code,
                            review_id=review_id))


def _request_regrade(**item: Any) -> None:
    form = RegradeRequestForm()
    if not form.validate_on_submit():
        flash("Say why you ask for a regrade (at least 10 characters).", "error")
        return
    try:
        services.request_regrade(g.course, current_user, reason=form.reason.data, **item)
    except DomainError as exc:
        _refused(exc)
        return
    db.session.commit()
    flash("Your regrade request was sent to the course staff.", "success")


@bp.get("/c/<course_code>/peer")
@course_student
def peer_list(course_code: str) -> str:
    now = utcnow()
    slots = peer_service.rateable_slots(g.course, current_user, now)
    rated = set(db.session.scalars(select(services.models.PeerRating.slot_id).where(
        services.models.PeerRating.rater_id == current_user.id)))
    return render_template("grading/peer_list.html", course=g.course, slots=slots, rated=rated)


@bp.route("/c/<course_code>/peer/<int:slot_id>", methods=["GET", "POST"])
@course_student
def peer_rate(course_code: str, slot_id: int) -> Any:
    slot = _lookup(services.held_slot_of_course, slot_id)
    now = utcnow()
    try:
        peer_service.check_can_rate(g.course, current_user, slot, now)
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("grading.peer_list", course_code=course_code))
    rubric = services.rubric_as_shown(services.course_rubric(g.course, "peer"), slot.role)
    form = PeerForm()
    existing = peer_service.my_rating(slot, current_user)
    chosen = dict(existing.values) if existing else {}
    if request.method == "POST":
        values, _ = rubric_values(request.form)
        if form.validate_on_submit():
            try:
                peer_service.save_peer_rating(g.course, current_user, slot,
                                              services.parse_values(values), now)
            except DomainError as exc:
                _refused(exc)
            else:
                db.session.commit()
                flash("Rating saved; you can change it until rating closes.", "success")
                return redirect(url_for("grading.peer_list", course_code=course_code))
        chosen = services.parse_values(values)
        status = 422
    else:
        status = 200
    _, closes = peer_service.peer_window(g.course, slot.session)
    return render_template("grading/peer_rate.html", course=g.course, slot=slot, rubric=rubric,
                           form=form, chosen=chosen, closes=closes), status
