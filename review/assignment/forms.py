"""Forms of the assignment capability: a group's preferences, a run's options, the import."""

from __future__ import annotations

from typing import Any, Optional

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, ValidationError
from wtforms.validators import Optional as OptionalValue

from models import PaperSession
from review.assignment.services import RunOptions


class PreferencesFormBase(FlaskForm):
    submit = SubmitField("Save preferences")

    session_ids: list[int]

    def rank_field(self, session_id: int) -> Any:
        return self[f"rank_{session_id}"]

    def unavailable_field(self, session_id: int) -> Any:
        return self[f"unavailable_{session_id}"]

    def choices(self) -> tuple[dict[int, Optional[int]], set[int]]:
        """(rank given per session id, session ids marked unavailable)."""
        ranks = {sid: self.rank_field(sid).data for sid in self.session_ids}
        unavailable = {sid for sid in self.session_ids if self.unavailable_field(sid).data}
        return ranks, unavailable


def preferences_form_class(sessions: list[PaperSession]) -> type[PreferencesFormBase]:
    """A form with one rank box and one 'cannot present' box per paper session."""

    class PreferencesForm(PreferencesFormBase):
        pass

    PreferencesForm.session_ids = [session.id for session in sessions]
    for session in sessions:
        label = f"Week {session.week.number}: {session.paper.title}"
        setattr(PreferencesForm, f"rank_{session.id}", IntegerField(
            f"Rank for {label}",
            validators=[OptionalValue(),
                        NumberRange(min=1, max=len(sessions),
                                    message=f"{label}: a rank is a number from 1 to "
                                            f"{len(sessions)}")]))
        setattr(PreferencesForm, f"unavailable_{session.id}",
                BooleanField(f"Cannot present in week {session.week.number}"))
    return PreferencesForm


class RunForm(FlaskForm):
    """Run the assignment; hidden fields carry a relaxation offered by an infeasible run."""

    quota = HiddenField()
    min_gap_weeks = HiddenField()
    keep_fixed = HiddenField(default="1")
    fairness_choices = [
        SelectChoice("", "None: least total cost"),
        SelectChoice("at-least-one-ranked", "Every group gets at least one session it ranked"),
        SelectChoice("min-worst", "Least bad worst choice first, then least total cost")]
    fairness = SelectField("Fairness rule", default="", choices=fairness_choices)
    submit = SubmitField("Run the assignment")

    def _whole_number(self, field: Any, low: int, high: int) -> None:
        value = (field.data or "").strip()
        if value and not (value.isdigit() and low <= int(value) <= high):
            raise ValidationError(f"{field.name} must be a whole number from {low} to {high} "
                                  f"(got {value[:20]!r}).")

    def validate_quota(self, field: Any) -> None:
        self._whole_number(field, 1, 1000)

    def validate_min_gap_weeks(self, field: Any) -> None:
        self._whole_number(field, 0, 52)

    def options(self) -> RunOptions:
        def number(value: Optional[str]) -> Optional[int]:
            return int(value) if value and value.isdigit() else None

        return RunOptions(quota=number(self.quota.data) or None,
                          min_gap_weeks=number(self.min_gap_weeks.data),
                          keep_fixed=self.keep_fixed.data != "0",
                          fairness=self.fairness.data or None)
