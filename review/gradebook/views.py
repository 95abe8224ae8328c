"""Web pages of the gradebook capability.

Staff: the gradebook (summary table with server-side sort and filter, distributions as SVG
images, downloads), one student's breakdown, the import of external grades with a preview, and
the grid of external grades. Students: their own grades, released items only.
Every number comes from ``load_gradebook`` (one computation for pages and files).
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from models import db, utcnow
from review.core.errors import DomainError
from review.core.ids import MAX_ID
from review.courses.roster import ImportLimits, TableFileError, read_table, sorted_sections
from review.gradebook import services
from review.gradebook.charts import distributions_svg
from review.gradebook.commands import EXPORT_FORMATS, export_bytes
from review.gradebook.compute import Gradebook, graded_so_far
from review.gradebook.forms import ConfirmImportForm, GradesUploadForm, GridForm
from review.gradebook.loader import (
    CachedGradebook,
    GradebookUnavailable,
    load_gradebook,
    staff_gradebook,
)
from review.permissions import course_staff, course_student
from review.permissions import course_staff_can

bp = Blueprint("gradebook", __name__)

GRID_PAGE_SIZE = 50
_MIMETYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              "csv": "text/csv", "blackboard": "text/csv", "canvas": "text/csv"}
_SUFFIX = {"xlsx": "gradebook.xlsx", "csv": "summary.csv", "blackboard": "blackboard.csv",
           "canvas": "canvas.csv"}


def pct(value: Any, decimals: int = 1) -> str:
    """A percentage for display; blank components show a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{decimals}f}"


@bp.app_template_filter("pct")
def pct_filter(value: Any, decimals: int = 1) -> str:
    return pct(value, decimals)


def _load(**kwargs: Any) -> Gradebook:
    return load_gradebook(g.course, utcnow(), **kwargs)


# --- Staff: the gradebook -------------------------------------------------------------------


def _cached() -> CachedGradebook:
    return staff_gradebook(g.course, utcnow())


_SORT_TEXT = ("student_id", "last_name", "first_name", "letter")


def _shown_rows(gradebook: Gradebook) -> list[dict[str, Any]]:
    """The summary rows as the table shows them (numbers formatted once per revision), with the
    text the search box looks in."""
    keys = gradebook.course.component_keys
    return [{"user_id": r["user_id"], "student_id": r["student_id"],
             "first_name": r["first_name"], "last_name": r["last_name"],
             "section": r["section"], "letter": r["letter"],
             "cells": [pct(r[key]) for key in keys], "total": pct(r["total"], 2),
             "text": f"{r['student_id']} {r['first_name']} {r['last_name']} {r['email']}".lower()}
            for r in gradebook.summary]


def _order(gradebook: Gradebook, sort: str, descending: bool) -> list[int]:
    """Positions of the summary rows sorted by ``sort`` (then last name), blanks last whatever
    the direction; ties keep the roster order."""
    summary = gradebook.summary
    tie = () if sort in ("last_name", "first_name") else ("last_name",)
    valued = [i for i, r in enumerate(summary) if r[sort] is not None]
    blank = [i for i, r in enumerate(summary) if r[sort] is None]
    valued.sort(key=lambda i: (summary[i][sort], *(summary[i][k] for k in tie)),
                reverse=descending)
    blank.sort(key=lambda i: tuple(summary[i][k] for k in tie), reverse=descending)
    return valued + blank


def sorted_filtered(cached: CachedGradebook,
                    args: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rows the query string asks for: sort, direction, text, letter and section filters.

    The formatted rows and each sort order are kept with the gradebook (per grades revision), so
    a request only picks and filters rows already made."""
    gradebook = cached.gradebook
    sortable = [*_SORT_TEXT, *gradebook.course.component_keys, "total"]
    sort = args.get("sort", "last_name")
    if sort not in sortable:
        sort = "last_name"
    direction = "desc" if args.get("dir") == "desc" else "asc"
    q = (args.get("q") or "").strip()
    letter = (args.get("letter") or "").strip()
    section = (args.get("section") or "").strip()
    shown = cached.get("shown", _shown_rows)
    order = cached.get(f"order:{sort}:{direction}",
                       lambda gb: _order(gb, sort, direction == "desc"))
    needle = q.lower()
    rows = [row for row in (shown[i] for i in order)
            if (not needle or needle in row["text"]) and (not letter or row["letter"] == letter)
            and (not section or row["section"] == section)]
    return rows, {"sort": sort, "dir": direction, "q": q, "letter": letter, "section": section}


@bp.get("/c/<course_code>/gradebook")
@course_staff
def index(course_code: str) -> tuple[str, int] | str:
    try:
        cached = _cached()
    except GradebookUnavailable as exc:
        return render_template("gradebook/unavailable.html", course=g.course, message=str(exc)), 200
    gradebook = cached.gradebook
    rows, params = sorted_filtered(cached, request.args)
    letters = [b.letter for b in gradebook.course.boundaries]
    sections = cached.get("sections", lambda gb: sorted_sections(r["section"] for r in gb.summary))
    # One url_for for every row's link (the id goes last): 300 calls cost a few milliseconds.
    student_link = url_for("gradebook.student", course_code=course_code, user_id=0)[:-1]
    return render_template("gradebook/index.html", course=g.course, gradebook=gradebook,
                           rows=rows, params=params, letters=letters, sections=sections,
                           student_link=student_link, formats=EXPORT_FORMATS)


@bp.get("/c/<course_code>/gradebook/distributions.svg")
@course_staff
def chart(course_code: str) -> Response:
    # Kept per grades revision with the gradebook it is drawn from.
    svg = _cached().get("chart", _distributions)
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


def _distributions(gradebook: Gradebook) -> bytes:
    panels = [("Course total", [r["total"] for r in gradebook.summary])]
    panels += [(c.label, [r[c.key] for r in gradebook.summary])
               for c in gradebook.course.components]
    return distributions_svg(panels)


@bp.get("/c/<course_code>/gradebook/export/<fmt>")
@course_staff
def export(course_code: str, fmt: str) -> Response:
    if fmt not in EXPORT_FORMATS:
        abort(404)
    data = export_bytes(_cached().gradebook, fmt, g.course.title)
    return Response(data, mimetype=_MIMETYPES[fmt], headers={
        "Content-Disposition": f"attachment; filename={course_code}-{_SUFFIX[fmt]}",
        "Cache-Control": "no-store"})


@bp.get("/c/<course_code>/gradebook/students/<int:user_id>")
@course_staff
def student(course_code: str, user_id: int) -> str:
    gradebook = _load(user_id=user_id)
    if not gradebook.summary:
        abort(404)
    return render_template("gradebook/student.html", course=g.course, gradebook=gradebook,
                           grades=gradebook.student(user_id), staff=True,
                           upcoming=_upcoming_sessions())


# --- Student: my grades ---------------------------------------------------------------------


def _upcoming_sessions() -> int:
    now = utcnow()
    return sum(1 for s in g.course.sessions if not now > s.review_deadline)


@bp.get("/c/<course_code>/grades")
@course_student
def mine(course_code: str) -> tuple[str, int] | str:
    try:
        gradebook = _load(released_only=True, user_id=current_user.id)
    except GradebookUnavailable as exc:
        return render_template("gradebook/unavailable.html", course=g.course, message=str(exc)), 200
    return render_template("gradebook/student.html", course=g.course, gradebook=gradebook,
                           grades=gradebook.student(current_user.id), staff=False,
                           upcoming=_upcoming_sessions(),
                           so_far=graded_so_far(gradebook, current_user.id))


# --- Staff: import --------------------------------------------------------------------------


def _import_page(form: GradesUploadForm, *, problems: Optional[list[str]] = None,
                 plan: Optional[services.ImportPlan] = None, confirm: Optional[ConfirmImportForm] = None,
                 status: int = 200) -> tuple[str, int]:
    components = services.external_components(g.course)
    return render_template("gradebook/import.html", course=g.course, form=form, problems=problems,
                           plan=plan, confirm=confirm, components=components), status


@bp.route("/c/<course_code>/gradebook/import", methods=["GET", "POST"])
@course_staff_can("edit_external_grades")
def import_grades(course_code: str) -> tuple[str, int]:
    form = GradesUploadForm()
    if not form.validate_on_submit():
        return _import_page(form, status=422 if form.is_submitted() else 200)
    upload = form.file.data
    try:
        plan = services.plan_import(g.course, read_table(upload.read(), upload.filename))
    except DomainError as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, TableFileError) else [str(exc)]
        return _import_page(form, problems=problems, status=422)
    confirm = ConfirmImportForm(formdata=None, payload=json.dumps(plan.records),
                                source=upload.filename)
    return _import_page(form, plan=plan, confirm=confirm)


@bp.post("/c/<course_code>/gradebook/import/confirm")
@course_staff_can("edit_external_grades")
def confirm_import(course_code: str) -> WerkzeugResponse | tuple[str, int]:
    confirm = ConfirmImportForm()
    if not confirm.validate_on_submit():
        flash("The preview was incomplete; upload the file again.", "error")
        return redirect(url_for("gradebook.import_grades", course_code=course_code))
    try:
        records = json.loads(confirm.payload.data)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError
    except ValueError:
        flash("The preview was damaged; upload the file again.", "error")
        return redirect(url_for("gradebook.import_grades", course_code=course_code))
    # The preview's rows come back from the browser: hold them to the upload's limits, or a
    # forged confirmation would import what no file may.
    limits = ImportLimits.from_config()
    if len(records) > limits.rows or sum(len(r) for r in records) > limits.cells:
        flash(f"The confirmation holds {len(records):,} rows; imports take at most "
              f"{limits.rows:,} rows and {limits.cells:,} cells. Nothing was saved.", "error")
        return redirect(url_for("gradebook.import_grades", course_code=course_code))
    try:
        plan = services.plan_from_records(g.course, records)
        written = services.apply_import(g.course, plan, current_user,
                                        source=f"upload: {confirm.source.data or ''}"[:200])
    except DomainError as exc:
        db.session.rollback()
        problems = exc.problems if isinstance(exc, TableFileError) else [str(exc)]
        return _import_page(GradesUploadForm(formdata=None), problems=problems, status=422)
    db.session.commit()
    flash(f"Saved {written} grade(s). {plan.summary()}", "success")
    return redirect(url_for("gradebook.index", course_code=course_code))


# --- Staff: grid ----------------------------------------------------------------------------


@bp.route("/c/<course_code>/gradebook/grid", methods=["GET", "POST"])
@course_staff_can("edit_external_grades")
def grid(course_code: str) -> WerkzeugResponse | tuple[str, int]:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    components = services.external_components(g.course)
    form = GridForm()
    problems: dict[str, str] = {}
    submitted: dict[str, str] = {}
    status = 200
    if form.validate_on_submit():
        try:
            user_ids = [int(part) for part in form.user_ids.data.split(",") if part]
            original = json.loads(form.original.data or "{}")
            if not isinstance(original, dict) or not all(0 < u <= MAX_ID for u in user_ids):
                raise ValueError
        except ValueError:
            flash("The grid form was damaged; reload the page.", "error")
            return redirect(url_for("gradebook.grid", course_code=course_code, page=page))
        submitted = {key: value for key, value in request.form.items() if key.startswith("g-")}
        try:
            written = services.save_grid(g.course, user_ids, submitted,
                                         {str(k): str(v) for k, v in original.items()},
                                         current_user)
        except services.GridError as exc:
            db.session.rollback()
            problems = exc.problems
            flash(f"Nothing was saved: {len(problems)} cell(s) need attention.", "error")
            status = 422
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            status = 422
        else:
            db.session.commit()
            flash(f"Saved {written} change(s).", "success")
            return redirect(url_for("gradebook.grid", course_code=course_code, page=page))
    elif form.is_submitted():
        status = 422
    rows, count = services.grid_rows(g.course, offset=(page - 1) * GRID_PAGE_SIZE,
                                     limit=GRID_PAGE_SIZE)
    original = {services.cell_name(r.user_id, k): services.grade_text(v)
                for r in rows for k, v in r.values.items()}
    shown = {name: submitted.get(name, text) for name, text in original.items()}
    form.user_ids.data = ",".join(str(r.user_id) for r in rows)
    if not problems:
        form.original.data = json.dumps(original)
    pages = max(1, math.ceil(count / GRID_PAGE_SIZE))
    return render_template("gradebook/grid.html", course=g.course, form=form, rows=rows,
                           components=components, shown=shown, problems=problems, page=page,
                           pages=pages, cell_name=services.cell_name), status
