"""Assignment: group preferences, the optimal role assignment run, its preview and publication.

The workflow of a course in ``preferences`` sign-up mode:

    save_group_preferences(group, actor, ranks, unavailable, now)   # a member, while open
    import_preferences(course, data, filename, actor)                # staff, CSV/XLSX, all or nothing
    run_assignment(course, actor, now, options) -> AssignmentRun     # a preview, nothing published
    publish_run(run, actor, now)                                     # every slot set in one step

``build_problem`` turns the stored preferences into the pure solver's input
(review/assignment/solver.py). A run stores the solver's ``to_json_dict()`` plus everything its
preview page needs (per-group outcomes, the rank histogram, the worst-off group, the relaxations
offered when infeasible) and a snapshot of the slot holders it was computed against, so that
publishing refuses when a newer run exists or when slots changed by hand since the run.

Hand-placed slots (``Slot.source == 'manual'``) are kept as fixed slots by default: they are the
instructor's explicit decisions. ``RunOptions.keep_fixed=False`` releases them.

The past is frozen: a slot whose session has started, that has a score, or whose presenters are
recorded (``review.signup.services.frozen_slot_ids``) is always a fixed slot of the run when
held, and a closed slot (left empty, not counted) when not. It counts toward its group's quota,
role balance and gap like a hand-placed slot, but no run releases it and no publication changes
it; publishing re-checks this at publish time, since a session may start between run and publish.

Services flush and raise ``AssignmentError`` (a DomainError); the caller commits once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from models import (AssignmentRun, AuditEntry, Course, Group, GroupPreference,
                    GroupUnavailability, Membership, PaperSession, PresentationRole, Slot, User,
                    db)
from review.assignment.solver import (FAIRNESS_RULES, AssignmentProblem, AssignmentResult,
                                      FixedSlot, GroupPreferences, InvalidAssignmentInput,
                                      SolverDidNotFinish, solve_assignment)
from review.core.errors import DomainError
from review.courses.roster import TableFileError, read_table, require_columns
from review.groups.services import course_groups
from review.notifications import events as notify
from review.signup.services import (PREFERENCES, frozen_slot_ids, signup_definition,
                                    signup_rules)

SOLVER_TIME_LIMIT_SECONDS = 30.0
IMPORT_COLUMNS = ("group", "ranking")


class AssignmentError(DomainError):
    """An assignment rule said no; the message is for the person who asked."""


class PreferencesClosed(AssignmentError):
    pass


class NotGroupMember(AssignmentError):
    pass


class InvalidPreferenceInput(AssignmentError):
    pass


class PublishRefused(AssignmentError):
    pass


# ---------------------------------------------------------------------------- preferences window


@dataclass(frozen=True)
class PreferenceWindow:
    """Whether groups may edit preferences now, and why not."""

    is_open: bool
    reason: str
    opens_at: Optional[datetime]
    closes_at: Optional[datetime]


def preference_window(course: Course, now: datetime) -> PreferenceWindow:
    rules = signup_rules(course)
    if rules.mode != PREFERENCES:
        return PreferenceWindow(False, "This course uses first-come sign-up on the board; "
                                       "there are no preferences to give.",
                                rules.opens_at, rules.closes_at)
    if rules.opens_at is None:
        return PreferenceWindow(False, "Preferences are not open: no opening time has been set "
                                       "yet.", None, rules.closes_at)
    if now < rules.opens_at:
        return PreferenceWindow(False, "Preferences are not open yet.", rules.opens_at,
                                rules.closes_at)
    if rules.closes_at is not None and now >= rules.closes_at:
        return PreferenceWindow(False, "Preferences are closed; the instructor runs the "
                                       "assignment now.", rules.opens_at, rules.closes_at)
    return PreferenceWindow(True, "", rules.opens_at, rules.closes_at)


# ---------------------------------------------------------------------------- reading


def upcoming_sessions(course: Course, now: datetime) -> list[PaperSession]:
    """The sessions still to come: the only ones a group can rank or mark unavailable."""
    return [session for session in course_sessions(course) if session.starts_at > now]


def course_sessions(course: Course) -> list[PaperSession]:
    """The course's paper sessions in time order, with week and paper loaded."""
    return list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id == course.id)
        .order_by(PaperSession.starts_at)
        .options(joinedload(PaperSession.week), joinedload(PaperSession.paper))))


def course_roles(course: Course) -> list[PresentationRole]:
    return list(db.session.scalars(select(PresentationRole)
                                   .where(PresentationRole.course_id == course.id)
                                   .order_by(PresentationRole.position)))


@dataclass
class StoredPreferences:
    """One group's stored wishes: session ids most preferred first, and unavailable ids."""

    ranking: list[int]
    unavailable: set[int]


def stored_preferences(course: Course) -> dict[int, StoredPreferences]:
    """Every group's preferences, by group id, in two queries."""
    result: dict[int, StoredPreferences] = {}
    for preference in db.session.scalars(
            select(GroupPreference).join(Group, GroupPreference.group_id == Group.id)
            .where(Group.course_id == course.id)
            .order_by(GroupPreference.group_id, GroupPreference.rank)):
        result.setdefault(preference.group_id, StoredPreferences([], set())).ranking.append(
            preference.session_id)
    for mark in db.session.scalars(
            select(GroupUnavailability).join(Group, GroupUnavailability.group_id == Group.id)
            .where(Group.course_id == course.id)):
        result.setdefault(mark.group_id, StoredPreferences([], set())).unavailable.add(
            mark.session_id)
    return result


def preferences_of(group: Group) -> StoredPreferences:
    ranking = list(db.session.scalars(select(GroupPreference.session_id)
                                      .where(GroupPreference.group_id == group.id)
                                      .order_by(GroupPreference.rank)))
    unavailable = set(db.session.scalars(select(GroupUnavailability.session_id)
                                         .where(GroupUnavailability.group_id == group.id)))
    return StoredPreferences(ranking, unavailable)


# ---------------------------------------------------------------------------- writing


def _session_label(session: PaperSession) -> str:
    return f"week {session.week.number} ('{session.paper.title}')"


def _replace_preferences(group: Group, ranking: list[int], unavailable: set[int]) -> None:
    """Delete then insert; the delete is flushed first so (group, rank) stays unique."""
    for model in (GroupPreference, GroupUnavailability):
        for row in db.session.scalars(select(model).where(model.group_id == group.id)):
            db.session.delete(row)
    db.session.flush()
    for rank, session_id in enumerate(ranking, start=1):
        db.session.add(GroupPreference(group_id=group.id, session_id=session_id, rank=rank))
    for session_id in sorted(unavailable):
        db.session.add(GroupUnavailability(group_id=group.id, session_id=session_id))


def _audit(course_id: int, actor: Optional[User], action: str, entity: str,
           entity_id: Optional[int], *, old: Any = None, new: Any = None, category: str,
           reason: str = "") -> None:
    db.session.add(AuditEntry(course_id=course_id, actor_id=actor.id if actor else None,
                              category=category, action=action, entity=entity,
                              entity_id=entity_id, old=old, new=new, reason=reason))


def _weeks_of(ids: list[int] | set[int], sessions: dict[int, PaperSession]) -> list[int]:
    return [sessions[i].week.number for i in ids if i in sessions]


def save_group_preferences(group: Group, actor: User, ranks: dict[int, Optional[int]],
                           unavailable: set[int], now: datetime) -> StoredPreferences:
    """A member stores the group's ranking and unavailable weeks while preferences are open.

    ``ranks`` maps session id to the rank given (None or missing = not ranked). Ranks must be
    distinct positive numbers; gaps are closed up (1, 3, 7 is stored as 1, 2, 3). Sessions that
    have started are history: they cannot be ranked or marked, and saving drops the group's old
    marks on them (runs keep those slots as they are anyway).
    """
    course = db.session.get(Course, group.course_id)
    assert course is not None
    if db.session.scalar(select(Membership.id).where(Membership.group_id == group.id,
                                                     Membership.user_id == actor.id)) is None:
        raise NotGroupMember(f"Only members of {group.name} can edit its preferences.")
    window = preference_window(course, now)
    if not window.is_open:
        raise PreferencesClosed(window.reason + " Nothing was changed.")
    sessions = {session.id: session for session in course_sessions(course)}
    problems: list[str] = []
    unknown = sorted({sid for sid in ranks if sid not in sessions}
                     | {sid for sid in unavailable if sid not in sessions})
    if unknown:
        problems.append("unknown paper session(s) " + ", ".join(f"#{sid}" for sid in unknown)
                        + "; reload the page")
    given = {sid: rank for sid, rank in ranks.items() if rank is not None and sid in sessions}
    for sid in sorted((set(given) | unavailable) & set(sessions),
                      key=lambda s: sessions[s].week.number):
        if sessions[sid].starts_at <= now:
            problems.append(f"{_session_label(sessions[sid])} has already taken place; it cannot "
                            "be ranked or marked unavailable")
    for sid, rank in sorted(given.items()):
        if rank < 1:
            problems.append(f"{_session_label(sessions[sid])}: rank {rank} must be 1 or more")
    by_rank: dict[int, list[int]] = {}
    for sid, rank in given.items():
        by_rank.setdefault(rank, []).append(sid)
    for rank, sids in sorted(by_rank.items()):
        if len(sids) > 1:
            labels = " and ".join(_session_label(sessions[s])
                                  for s in sorted(sids, key=lambda s: sessions[s].week.number))
            problems.append(f"rank {rank} is given to more than one paper: {labels}")
    for sid in sorted(set(given) & unavailable, key=lambda s: sessions[s].week.number):
        problems.append(f"{_session_label(sessions[sid])} is both ranked and marked unavailable")
    if problems:
        raise InvalidPreferenceInput("Preferences were not saved:\n" + "\n".join(problems))
    ranking = [sid for sid, _ in sorted(given.items(), key=lambda item: item[1])]
    old = preferences_of(group)
    _replace_preferences(group, ranking, set(unavailable))
    _audit(course.id, actor, "save_preferences", "group", group.id, category="assignment",
           old={"ranking": _weeks_of(old.ranking, sessions),
                "unavailable": sorted(_weeks_of(old.unavailable, sessions))},
           new={"ranking": _weeks_of(ranking, sessions),
                "unavailable": sorted(_weeks_of(unavailable, sessions))})
    db.session.flush()
    return StoredPreferences(ranking, set(unavailable))


@dataclass
class ImportResult:
    groups: int
    ranked: int
    unavailable: int

    def summary(self) -> str:
        return (f"Imported preferences of {self.groups} group(s): {self.ranked} ranked "
                f"session(s), {self.unavailable} unavailable week(s).")


def _parse_weeks(text: str, row: int, column: str, session_weeks: set[int],
                 problems: list[str]) -> list[int]:
    weeks: list[int] = []
    for token in [t.strip() for t in re.split(r"[;,]", text)]:
        if not token:
            continue
        if not re.fullmatch(r"\d+", token.removesuffix(".0")):
            problems.append(f"row {row}, column {column}: '{token}' is not a week number")
            continue
        weeks.append(int(token.removesuffix(".0")))
    unknown = [w for w in weeks if w not in session_weeks]
    if unknown:
        problems.append(f"row {row}, column {column}: week(s) {', '.join(map(str, unknown))} "
                        f"have no paper session (sessions: "
                        f"{', '.join(map(str, sorted(session_weeks)))})")
    repeated = sorted({w for w in weeks if weeks.count(w) > 1})
    if repeated:
        problems.append(f"row {row}, column {column}: week(s) {', '.join(map(str, repeated))} "
                        "listed more than once")
    return weeks


def import_preferences(course: Course, data: bytes, filename: str,
                       actor: Optional[User]) -> ImportResult:
    """Preferences from a CSV/XLSX (group, ranking, unavailable); any bad row rejects the file.

    ``ranking``: week numbers of paper sessions separated by ``;``, most preferred first (not
    necessarily all). ``unavailable``: week numbers (column optional, cells may be empty). Groups
    not in the file keep their preferences; a listed group's preferences are replaced.
    """
    frame = read_table(data, filename)
    require_columns(frame, IMPORT_COLUMNS)
    sessions = course_sessions(course)
    session_of_week = {session.week.number: session for session in sessions}
    groups = {group.name.casefold(): group for group in course_groups(course)}
    problems: list[str] = []
    parsed: list[tuple[Group, list[int], list[int]]] = []
    first_row_of_group: dict[int, int] = {}
    has_unavailable = "unavailable" in frame.columns
    for index, record in enumerate(frame.to_dict("records")):
        row = index + 2
        name = record["group"]
        ranking_text = record["ranking"]
        unavailable_text = record.get("unavailable", "") if has_unavailable else ""
        if not (name or ranking_text or unavailable_text):
            continue
        group = groups.get(name.casefold()) if name else None
        if not name:
            problems.append(f"row {row}, column group: empty")
        elif group is None:
            problems.append(f"row {row}, column group: no group named '{name}' in this course")
        elif group.id in first_row_of_group:
            problems.append(f"row {row}, column group: '{name}' is also on row "
                            f"{first_row_of_group[group.id]}")
        else:
            first_row_of_group[group.id] = row
        ranking = _parse_weeks(ranking_text, row, "ranking", set(session_of_week), problems)
        unavailable = _parse_weeks(unavailable_text, row, "unavailable", set(session_of_week),
                                   problems)
        both = [w for w in ranking if w in unavailable]
        if both:
            problems.append(f"row {row}: week(s) {', '.join(map(str, both))} both ranked and "
                            "unavailable")
        if group is not None:
            parsed.append((group, ranking, unavailable))
    if problems:
        raise TableFileError(problems)
    if not parsed:
        raise TableFileError(["the file has a header but no group rows"])
    ranked_total = unavailable_total = 0
    for group, ranking, unavailable in parsed:
        _replace_preferences(group, [session_of_week[w].id for w in ranking],
                             {session_of_week[w].id for w in unavailable})
        ranked_total += len(ranking)
        unavailable_total += len(unavailable)
    result = ImportResult(len(parsed), ranked_total, unavailable_total)
    _audit(course.id, actor, "import_preferences", "course", course.id, category="assignment",
           new={"file": filename, "groups": [g.name for g, _, _ in parsed]})
    db.session.flush()
    return result


# ---------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunOptions:
    """Overrides of the course's rules for one run (None = the course's setting)."""

    quota: Optional[int] = None
    min_gap_weeks: Optional[int] = None
    keep_fixed: bool = True
    # None, or one of solver.FAIRNESS_RULES.
    fairness: Optional[str] = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunOptions":
        fairness = data.get("fairness")
        return cls(quota=data.get("quota"), min_gap_weeks=data.get("min_gap_weeks"),
                   keep_fixed=bool(data.get("keep_fixed", True)),
                   fairness=fairness if fairness in FAIRNESS_RULES else None)


@dataclass
class ProblemContext:
    """The solver input plus the ids needed to turn names back into rows."""

    problem: AssignmentProblem
    group_ids: dict[str, int]
    sessions: list[PaperSession]
    roles: list[PresentationRole]
    slots: list[Slot]
    quota_derived: bool
    frozen: set[int]


def build_problem(course: Course, options: RunOptions = RunOptions(),
                  now: Optional[datetime] = None) -> ProblemContext:
    """Stored preferences -> solver input, in a fixed number of queries.

    Frozen slots (as of ``now``; none when ``now`` is None) are fixed when held and closed when
    empty, whatever ``options.keep_fixed`` says.
    """
    signup = signup_definition(course)
    sessions = course_sessions(course)
    roles = course_roles(course)
    groups = course_groups(course)
    preferences = stored_preferences(course)
    slots = list(db.session.scalars(select(Slot).join(PaperSession)
                                    .where(PaperSession.course_id == course.id)))
    week_of = {session.id: session.week.number for session in sessions}
    role_key = {role.id: role.key for role in roles}
    name_of = {group.id: group.name for group in groups}
    group_inputs = []
    for group in groups:
        stored = preferences.get(group.id, StoredPreferences([], set()))
        group_inputs.append(GroupPreferences(
            group.name, tuple(week_of[s] for s in stored.ranking if s in week_of),
            frozenset(week_of[s] for s in stored.unavailable if s in week_of)))
    frozen = frozen_slot_ids(course, now) if now is not None else set()
    fixed = tuple(FixedSlot(name_of[slot.group_id], week_of[slot.session_id],
                            role_key[slot.role_id], frozen=slot.id in frozen)
                  for slot in slots if slot.group_id in name_of
                  and (slot.id in frozen or (options.keep_fixed and slot.source == "manual")))
    closed = frozenset((week_of[slot.session_id], role_key[slot.role_id]) for slot in slots
                       if slot.id in frozen and slot.group_id not in name_of)
    quota = options.quota if options.quota is not None else signup.quota
    gap = options.min_gap_weeks if options.min_gap_weeks is not None else signup.min_gap_weeks
    if not sessions:
        raise AssignmentError("The course has no paper sessions to assign.")
    if not groups:
        raise AssignmentError("The course has no groups yet; nothing to assign.")
    try:
        problem = AssignmentProblem(weeks=tuple(week_of[s.id] for s in sessions),
                                    roles=tuple(role.key for role in roles),
                                    groups=tuple(group_inputs), quota=quota,
                                    min_gap_weeks=gap, fixed=fixed, closed=closed,
                                    fairness=options.fairness)  # type: ignore[arg-type]
    except InvalidAssignmentInput as exc:
        raise AssignmentError(f"The assignment cannot run: {exc}.") from None
    if len(closed) == len(sessions) * len(roles):
        raise AssignmentError("Every paper session has already taken place; nothing is left to "
                              "assign.")
    return ProblemContext(problem, {g.name: g.id for g in groups}, sessions, roles, slots,
                          quota is None, frozen)


def relaxations(result: AssignmentResult, options: RunOptions) -> list[dict[str, Any]]:
    """The one-click re-runs offered for an infeasible result (label + RunOptions as a dict)."""
    offers: list[dict[str, Any]] = []
    seen: set[str] = set()

    def offer(label: str, **changes: Any) -> None:
        if label in seen:
            return
        seen.add(label)
        offers.append({"label": label, "options": {**asdict(options), **changes}})

    for reason in result.explanation:
        value = reason.suggested_value
        if reason.rule == "quota" and value is not None:
            offer(f"Run again allowing a quota of {value}", quota=value)
        elif reason.rule == "min_gap":
            if value:
                offer(f"Run again with a minimum gap of {value} weeks", min_gap_weeks=value)
            else:
                offer("Run again without the minimum gap", min_gap_weeks=0)
        elif reason.rule == "fixed":
            offer("Run again without keeping hand-placed slots", keep_fixed=False)
        elif reason.rule == "fairness":
            offer("Run again without the fairness rule", fairness=None)
    return offers


def _preview(result: AssignmentResult, context: ProblemContext) -> dict[str, Any]:
    ranked = {g.name: len(g.ranking) for g in context.problem.groups}
    outcomes = result.outcomes_by_group()
    worst = result.worst_off_group()
    return {
        "groups": [{"group": name, "group_id": context.group_ids[name], "cost": outcome.cost,
                    "ranked": ranked[name],
                    "slots": [{"week": a.week, "role": a.role, "rank": a.rank}
                              for a in outcome.slots]}
                   for name, outcome in outcomes.items()],
        "histogram": [{"rank": key, "count": count}
                      for key, count in result.rank_histogram().items()],
        "worst_off": {"group": worst.group, "cost": worst.cost} if worst else None,
    }


def _changes(result: AssignmentResult, context: ProblemContext) -> list[dict[str, Any]]:
    """Slots whose holder the run would change: week, role, from group, to group (None = open)."""
    week_of = {session.id: session.week.number for session in context.sessions}
    role_of = {role.id: role for role in context.roles}
    name_of = {group_id: name for name, group_id in context.group_ids.items()}
    target = {(a.week, a.role): a.group for a in result.assignments}
    changes = []
    for slot in sorted(context.slots, key=lambda s: (week_of[s.session_id],
                                                     role_of[s.role_id].position)):
        week, role = week_of[slot.session_id], role_of[slot.role_id].key
        current = name_of.get(slot.group_id) if slot.group_id else None
        new = target.get((week, role))
        if new != current:
            changes.append({"week": week, "role": role, "from": current, "to": new})
    return changes


def _warnings(course: Course, context: ProblemContext, now: datetime) -> list[str]:
    """What makes a run premature: preferences still open, groups that ranked nothing."""
    warnings = []
    rules = signup_rules(course)
    if rules.mode == PREFERENCES and rules.closes_at is not None and rules.closes_at > now:
        local = rules.closes_at.astimezone(ZoneInfo(course.timezone))
        warnings.append(f"Preferences are still open until {local:%Y-%m-%d %H:%M} "
                        f"({course.timezone}): groups can still change them, so this run may "
                        "not be the last word.")
    elif rules.mode == PREFERENCES and rules.closes_at is None and preference_window(
            course, now).is_open:
        warnings.append("Preferences are still open and no closing time is set: groups can "
                        "still change them, so this run may not be the last word.")
    silent = [group.name for group in context.problem.groups if not group.ranking]
    if silent:
        warnings.append(f"{len(silent)} group(s) have not ranked any session: "
                        + ", ".join(silent) + ".")
    return warnings


def run_assignment(course: Course, actor: Optional[User], now: datetime,
                   options: RunOptions = RunOptions()) -> AssignmentRun:
    """Solve and store a run (a preview; nothing is published)."""
    context = build_problem(course, options, now)
    try:
        result = solve_assignment(context.problem, time_limit_seconds=SOLVER_TIME_LIMIT_SECONDS)
    except SolverDidNotFinish as exc:
        raise AssignmentError(f"The assignment did not finish: {exc}.") from None
    document = result.to_json_dict()
    document.update({
        "message": result.message,
        "options": {**asdict(options), "effective_quota": context.problem.quota,
                    "effective_min_gap_weeks": context.problem.min_gap_weeks,
                    "fixed": sum(1 for slot in context.problem.fixed if not slot.frozen),
                    "frozen": sum(1 for slot in context.problem.fixed if slot.frozen),
                    "closed": len(context.problem.closed)},
        "group_ids": context.group_ids,
        "slots_before": {str(slot.id): slot.group_id for slot in context.slots},
        "changes": _changes(result, context) if result.status == "optimal" else [],
        "warnings": _warnings(course, context, now),
        **_preview(result, context),
        "relaxations": relaxations(result, options) if result.status == "infeasible" else [],
    })
    run = AssignmentRun(course_id=course.id, created_by_id=actor.id if actor else None,
                        created_at=now, status=result.status, objective=result.objective,
                        result=document)
    db.session.add(run)
    db.session.flush()
    return run


def run_in_course(course: Course, run_id: int) -> Optional[AssignmentRun]:
    return db.session.scalar(select(AssignmentRun).where(AssignmentRun.id == run_id,
                                                         AssignmentRun.course_id == course.id))


def course_runs(course: Course, limit: int = 20) -> list[AssignmentRun]:
    return list(db.session.scalars(select(AssignmentRun)
                                   .where(AssignmentRun.course_id == course.id)
                                   .order_by(AssignmentRun.id.desc()).limit(limit)))


def newer_optimal_run(run: AssignmentRun) -> Optional[AssignmentRun]:
    return db.session.scalar(select(AssignmentRun).where(
        AssignmentRun.course_id == run.course_id, AssignmentRun.id > run.id,
        AssignmentRun.status == "optimal").order_by(AssignmentRun.id.desc()).limit(1))


# ---------------------------------------------------------------------------- publishing


def _lock_course_slots(course: Course) -> list[Slot]:
    """All slots of the course, row-locked on PostgreSQL so no claim or move interleaves."""
    return list(db.session.scalars(
        select(Slot).where(Slot.session_id.in_(
            select(PaperSession.id).where(PaperSession.course_id == course.id)))
        .order_by(Slot.id).with_for_update().execution_options(populate_existing=True)))


def _describe_slot(slot: Slot, weeks: dict[int, int], roles: dict[int, str]) -> str:
    return f"week {weeks.get(slot.session_id, '?')} {roles.get(slot.role_id, '?')}"


def publish_run(run: AssignmentRun, actor: Optional[User], now: datetime) -> int:
    """Set every slot of the course to the run's holders in one step; returns slots changed.

    Refuses an infeasible or already published run, an older run when a newer optimal one
    exists, and a run computed against slot holders that changed since (by hand or by another
    publication): run again to start from the current board.
    """
    course = db.session.get(Course, run.course_id)
    assert course is not None
    if run.status != "optimal":
        raise PublishRefused("That run found no assignment; there is nothing to publish.")
    if run.published_at is not None:
        raise PublishRefused(f"Run #{run.id} is already published.")
    newer = newer_optimal_run(run)
    if newer is not None:
        raise PublishRefused(f"Run #{run.id} is older than run #{newer.id}; publish the newer "
                             "run or run the assignment again. Nothing was changed.")
    slots = _lock_course_slots(course)
    sessions = course_sessions(course)
    weeks = {session.id: session.week.number for session in sessions}
    session_of_week = {session.week.number: session.id for session in sessions}
    roles = {role.id: role.key for role in course_roles(course)}
    role_id_of = {key: role_id for role_id, key in roles.items()}
    document = run.result or {}
    before = document.get("slots_before", {})
    changed = [slot for slot in slots
               if str(slot.id) not in before or before[str(slot.id)] != slot.group_id]
    if changed or len(before) != len(slots):
        names = ", ".join(_describe_slot(slot, weeks, roles) for slot in changed[:5])
        names = names or "slots were added or removed"
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise PublishRefused(
            f"Slots changed since run #{run.id} was computed ({names}{more}); publishing it "
            "would overwrite those changes. Run the assignment again; hand-placed slots are "
            "kept by the new run.")
    group_ids = document.get("group_ids", {})
    existing_groups = set(db.session.scalars(select(Group.id).where(
        Group.course_id == course.id)))
    target: dict[tuple[int, int], int] = {}
    for item in document.get("assignments", []):
        session_id = session_of_week.get(item["week"])
        role_id = role_id_of.get(item["role"])
        group_id = group_ids.get(item["group"])
        if session_id is None or role_id is None or group_id not in existing_groups:
            raise PublishRefused(f"Run #{run.id} names week {item['week']}, role "
                                 f"'{item['role']}' or group '{item['group']}', which no longer "
                                 "exist; run the assignment again.")
        target[(session_id, role_id)] = group_id
    slot_keys = {(slot.session_id, slot.role_id) for slot in slots}
    if not set(target) <= slot_keys:
        raise PublishRefused(f"The course's sessions or roles changed since run #{run.id}; run "
                             "the assignment again.")
    # Checked now, not at run time: a session may have started (or a slot been graded) since.
    frozen = frozen_slot_ids(course, now)
    name_of = {group_id: name for name, group_id in group_ids.items()}
    to_change = [slot for slot in slots
                 if slot.group_id != target.get((slot.session_id, slot.role_id))]
    touching_past = [slot for slot in to_change if slot.id in frozen]
    if touching_past:
        names = ", ".join(_describe_slot(slot, weeks, roles) for slot in touching_past[:5])
        more = f" and {len(touching_past) - 5} more" if len(touching_past) > 5 else ""
        raise PublishRefused(
            f"Run #{run.id} would change {names}{more}: held or graded since the run was "
            "computed, and the past is not rewritten. Nothing was changed; run the assignment "
            "again.")
    changing = {slot.id for slot in to_change}
    before = {slot.id: slot.group_id for slot in to_change}
    old = {str(slot.id): name_of.get(slot.group_id) if slot.group_id else None
           for slot in to_change}
    # Clear first so (session_id, group_id) stays unique at every step, then fill.
    for slot in to_change:
        slot.group_id = None
    db.session.flush()
    for slot in slots:
        if slot.id in frozen:
            continue
        slot.source = "assignment"
        if slot.id in changing:
            slot.group_id = target.get((slot.session_id, slot.role_id))
            slot.held_since = now
    run.published_at = now
    try:
        db.session.flush()
    except IntegrityError:
        raise PublishRefused("Another change to the slots happened at the same time; nothing "
                             "was published. Run the assignment again.") from None
    _audit(course.id, actor, "publish_assignment", "assignment_run", run.id, category="slot",
           old={"holders": old},
           new={"holders": {str(slot.id): name_of.get(slot.group_id) for slot in to_change},
                "objective": run.objective, "slots": len(slots)})
    db.session.flush()
    notify.slots_changed(course, before, cause=f"the slot assignment (run #{run.id}) was published")
    return len(to_change)


# ---------------------------------------------------------------------------- status for staff


@dataclass
class GroupStatus:
    group: Group
    ranked: int
    unavailable: int
    members: int


def preference_status(course: Course) -> list[GroupStatus]:
    """Each group with how many sessions it ranked and marked unavailable (three queries)."""
    groups = course_groups(course)
    preferences = stored_preferences(course)
    members = dict(db.session.execute(
        select(Membership.group_id, func.count()).where(Membership.course_id == course.id)
        .group_by(Membership.group_id)).tuples().all())
    empty = StoredPreferences([], set())
    return [GroupStatus(group, len(preferences.get(group.id, empty).ranking),
                        len(preferences.get(group.id, empty).unavailable),
                        members.get(group.id, 0)) for group in groups]
