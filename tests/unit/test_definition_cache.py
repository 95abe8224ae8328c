"""The validated course definition is reused while the stored dict is the same, per course."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from review.courses.definition import CourseDefinition, stored_definition
from tests.factories import course_definition_data


def test_validated_once_per_stored_dict_and_again_when_replaced() -> None:
    course = SimpleNamespace(definition=CourseDefinition.model_validate(
        course_definition_data("cache-a")).model_dump(mode="json"))
    first = stored_definition(course)
    assert stored_definition(course) is first  # same stored dict: no second validation
    changed = course_definition_data("cache-a", timezone="America/New_York")
    course.definition = CourseDefinition.model_validate(changed).model_dump(mode="json")
    second = stored_definition(course)
    assert second is not first and second.timezone == "America/New_York"


def test_an_equal_dict_of_another_course_is_validated_for_itself() -> None:
    data = CourseDefinition.model_validate(course_definition_data("cache-b")).model_dump(mode="json")
    one, other = SimpleNamespace(definition=data), SimpleNamespace(definition=dict(data))
    assert stored_definition(one) is not stored_definition(other)
    assert stored_definition(one) == stored_definition(other)


def test_a_reloaded_equal_dict_reuses_the_result_and_an_edited_one_does_not() -> None:
    data = CourseDefinition.model_validate(course_definition_data("cache-c")).model_dump(mode="json")
    course = SimpleNamespace(id=987654, definition=data)
    first = stored_definition(course)
    course.definition = copy.deepcopy(data)  # the row loaded again by the next request
    assert stored_definition(course) is first
    # Changed in place (then flagged as modified and saved): validated again, not the old result.
    course.definition["timezone"] = "America/New_York"
    assert stored_definition(course).timezone == "America/New_York"
