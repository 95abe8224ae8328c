"""Forms of the class session: timer controls, questions, votes, marks, slides, review ratings."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from review.core.ids import id_range
from review.live.services import (HELPFULNESS_SCALE, HELPFULNESS_TAGS, MAX_EXTENSION_MINUTES,
                                  MAX_QUESTION_CHARS)

CONTROL_ACTIONS = [("next", "Next"), ("pause", "Pause"), ("resume", "Resume"),
                   ("extend", "Extend")]


class StartForm(FlaskForm):
    submit = SubmitField("Start the run sheet")


class ControlForm(FlaskForm):
    """Every control names the segment it was pressed on, so a stale tap cannot skip one."""

    action = SelectField(choices=CONTROL_ACTIONS, validators=[InputRequired()])
    expected_segment = IntegerField(validators=[InputRequired("The form did not say which segment it "
                                                              "was for; reload the page."),
                                                NumberRange(min=0, max=1000)])
    minutes = IntegerField("Minutes", default=1, validators=[
        Optional(), NumberRange(min=1, max=MAX_EXTENSION_MINUTES,
                                message=f"Extend by 1 to {MAX_EXTENSION_MINUTES} minutes.")])


class QuestionForm(FlaskForm):
    text = StringField("Your question", validators=[
        DataRequired("Write the question."),
        Length(min=3, max=MAX_QUESTION_CHARS,
               message=f"A question has 3 to {MAX_QUESTION_CHARS} characters.")])
    submit = SubmitField("Add question")


class VoteForm(FlaskForm):
    question_id = IntegerField(validators=[InputRequired("Choose a question."), id_range(1)])


class MarkQuestionForm(FlaskForm):
    question_id = IntegerField(validators=[InputRequired("Choose a question."), id_range(1)])
    status = SelectField(choices=[("raised", "raised"), ("answered", "answered")],
                         validators=[InputRequired()])
    # 0: the asker (for "raised").
    credited_id = SelectField("Who", coerce=int, validators=[Optional()])


class SlidesForm(FlaskForm):
    slide_slot = SelectField("Presentation", coerce=int, validators=[InputRequired()])
    file = FileField("PDF file")
    url = StringField("or a link (http or https)", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Upload slides")


class ReviewRatingForm(FlaskForm):
    review_id = IntegerField(validators=[InputRequired("Choose a review."), id_range(1)])
    helpfulness = SelectField("How helpful was it for the discussion?", coerce=int,
                              choices=[(value, f"{value}: {label}")
                                       for value, label in HELPFULNESS_SCALE.items()],
                              validators=[InputRequired("Choose how helpful it was.")])
    tags = SelectMultipleField("Tags", choices=list(HELPFULNESS_TAGS.items()),
                               validators=[Optional()])
