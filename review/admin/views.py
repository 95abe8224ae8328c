"""The site administrator's pages: every course, and a new course from an uploaded file."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from models import db
from review.admin import services
from review.admin.forms import NewCourseForm
from review.core.errors import DomainError
from review.courses.definition import CourseFileError
from review.courses.links import issue_links, mail_links
from review.courses.staff import staff_mail_reason
from review.mail import mail_configured
from review.permissions import site_admin

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _index(form: NewCourseForm, problems: list[str] | None = None,
           status: int = 200) -> tuple[str, int]:
    return render_template("admin/index.html", courses=services.all_courses(), form=form,
                           problems=problems or [], mail_enabled=mail_configured()), status


@bp.get("/")
@site_admin
def index() -> tuple[str, int]:
    return _index(NewCourseForm())


@bp.post("/courses")
@site_admin
def create_course() -> tuple[str, int]:
    form = NewCourseForm()
    if not form.validate_on_submit():
        return _index(form, status=422)
    upload = form.file.data
    try:
        definition = services.parse_uploaded_course(upload.read(), upload.filename or "upload")
        new = services.create_course(definition, instructor_email=form.instructor_email.data,
                                     first_name=form.first_name.data or "",
                                     last_name=form.last_name.data or "", actor=current_user)
        instructor = new.instructor.user
        links = issue_links([instructor]) if not instructor.password_hash else []
        report = None
        if links and mail_configured():
            report = mail_links(new.course, links,
                                why=staff_mail_reason(new.course, new.instructor.enrollment.role))
    except CourseFileError as exc:
        db.session.rollback()
        return _index(form, problems=exc.problems, status=422)
    except DomainError as exc:
        db.session.rollback()
        return _index(form, problems=[str(exc)], status=422)
    db.session.commit()
    shown = report.failed_links if report else links
    return render_template("admin/created.html", new=new, report=report, links=shown), 201
