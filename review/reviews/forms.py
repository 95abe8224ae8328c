"""Review forms: the review itself, staff excuses, and marking a digest question as raised."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from review.core.ids import id_range
from review.reviews.services import MAX_QUESTIONS, QUESTIONS_GUIDANCE, TEXT_SECTIONS, ReviewContent

_GUIDANCE = {key: guidance for key, _, guidance in TEXT_SECTIONS}
_LABELS = {key: label for key, label, _ in TEXT_SECTIONS}


class ReviewForm(FlaskForm):
    """The guideline sections in order; size limits are the course's and checked by the service."""

    class Meta:
        # CSRFProtect checks every POST before the view, and the page renders csrf_token()
        # itself; the form's own token field only signed a token again on every save and
        # submit, to be thrown away with the redirect (issue 14: 2.5% of a submit).
        csrf = False

    summary = TextAreaField(_LABELS["summary"], description=_GUIDANCE["summary"])
    strengths = TextAreaField(_LABELS["strengths"], description=_GUIDANCE["strengths"])
    weaknesses = TextAreaField(_LABELS["weaknesses"], description=_GUIDANCE["weaknesses"])
    remedies = TextAreaField(_LABELS["remedies"], description=_GUIDANCE["remedies"])
    questions = FieldList(StringField("Question"), min_entries=MAX_QUESTIONS,
                          max_entries=MAX_QUESTIONS, description=QUESTIONS_GUIDANCE)
    # The Review.version this page was loaded with (optimistic lock across tabs).
    version = HiddenField()
    confirm_late = HiddenField()
    preview = SubmitField("Preview")
    save = SubmitField("Save draft")
    submit = SubmitField("Submit review")

    def content(self) -> ReviewContent:
        return ReviewContent.build(summary=self.summary.data or "",
                                   strengths=self.strengths.data or "",
                                   weaknesses=self.weaknesses.data or "",
                                   remedies=self.remedies.data or "",
                                   questions=[q.data or "" for q in self.questions])

    def expected_version(self) -> int | None:
        value = (self.version.data or "").strip()
        return int(value) if value.isdigit() else None

    def fill(self, content: ReviewContent, version: int | None) -> None:
        self.summary.data = content.summary
        self.strengths.data = content.strengths
        self.weaknesses.data = content.weaknesses
        self.remedies.data = content.remedies
        for index, entry in enumerate(self.questions):
            entry.data = content.questions[index] if index < len(content.questions) else ""
        self.version.data = "" if version is None else str(version)


class ExcuseForm(FlaskForm):
    student_id = SelectField("Student", coerce=int, validators=[InputRequired()])
    session_id = SelectField("Week", coerce=int, validators=[InputRequired()])
    reason = StringField("Reason", validators=[DataRequired("Give a reason."), Length(max=500)])
    submit = SubmitField("Excuse")


class RaiseQuestionForm(FlaskForm):
    review_id = IntegerField(validators=[InputRequired(), id_range()])
    question_index = IntegerField(validators=[InputRequired(), NumberRange(min=0, max=MAX_QUESTIONS - 1)])
    raised_by_id = SelectField("Raised by", coerce=int, validators=[Optional()])
    unmark = HiddenField()
    submit = SubmitField("Mark as raised")
