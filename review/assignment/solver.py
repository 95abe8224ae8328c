"""Optimal assignment of presentation roles to groups (paper sessions x roles).

A course has paper *sessions* (each identified by its week number) and an ordered list of
presentation *roles* (e.g. ``overview``, ``strengths``, ``weaknesses``); every
(session, role) pair is a *slot*. Groups rank the sessions they would like to present and mark
weeks they cannot present. This module picks, for every slot, exactly one group so that the
total dissatisfaction is provably minimal, or explains why no assignment can meet the rules.

Pure Python over plain data: no database, no Flask. The caller builds an
:class:`AssignmentProblem` from whatever storage it uses and calls :func:`solve_assignment`.

Rules (all hard):

* every slot is held by exactly one group;
* a group never holds two roles of the same session;
* slots per group: with ``quota=None`` every group holds ``floor(S/G)`` or ``ceil(S/G)`` slots
  (S slots, G groups), so loads differ by at most one. With an explicit ``quota=q`` every group
  holds between ``min(floor(S/G), q)`` and ``q`` slots and all slots must still be filled, so a
  quota below ``ceil(S/G)`` is infeasible and a larger one lets preferences spread loads
  unevenly (see :meth:`AssignmentProblem.slots_per_group_range`);
* role balance: a group holding n slots holds each role ``floor(n/R)`` or ``ceil(n/R)`` times;
* a group never presents in a week it marked unavailable, unless a fixed slot puts it there
  (a fixed slot is an explicit decision, e.g. the instructor's manual move, and wins);
* ``min_gap_weeks = g > 0``: two slots of one group lie in sessions whose weeks differ by at
  least g (so g <= 1 only forbids two roles in one session, which is always forbidden);
* fixed slots (already published or moved by hand) are kept. A *frozen* fixed slot is history
  (its session was held, or it was graded): it counts toward its group's load, role balance and
  gap like any fixed slot, but two frozen slots closer than the gap are accepted as they are
  (the gap binds the slots still to place), and no relaxation offers to release one;
* closed slots (``closed``: (week, role) pairs of sessions already over that nobody held) stay
  empty and are not counted in S;
* optional fairness rule (``fairness``): ``'at-least-one-ranked'``: every group that ranked
  any session holds at least one session it ranked; ``'min-worst'``: lexicographic, first the
  least possible cost of the worst slot placed (fixed slots exempt), then the least total.
  The plain optimum is solved too, and ``AssignmentResult.fairness`` reports what the rule cost.

Infeasibility is reported, not raised: the result has status ``'infeasible'`` and an
``explanation``. Cheap counting arguments come first (too few groups for the roles, quota x groups
below the slot count, a session fewer than R groups can present, a group open in fewer sessions
than its minimum load, fixed slots above the quota). Otherwise the MILP is re-solved with one rule
relaxed at a time (minimum gap, reduced to the largest gap that works; quota + 1, + 2, ...;
unavailable weeks, overriding as few as possible; role balance; fixed slots, releasing as few as
possible) and every relaxation that restores feasibility is offered.

Cost of one slot for a group: ``r**2`` if it ranked that session r-th (1-based), otherwise
``(k+1)**2`` where k is the number of sessions it ranked. Squaring makes lifting the worst-off
group worth more than pleasing an already happy one; a group that ranked nothing pays 1 per
slot, so it absorbs unwanted slots without distorting anyone else's result.

Public API
----------
``GroupPreferences(name, ranking=(), unavailable=frozenset())``   one group's wishes
``FixedSlot(group, week, role, frozen=False)``                     a slot that must stay held
``AssignmentProblem(weeks, roles, groups, quota=None, min_gap_weeks=0, fixed=(), closed=frozenset(),
fairness=None)``
    validated on construction; ``.slots_per_group_range() -> (low, high)``
``solve_assignment(problem, *, time_limit_seconds=60.0) -> AssignmentResult``
``preference_cost(group, week) -> int``                            cost of one slot
``AssignmentResult(status, objective, assignments, group_names, explanation=())``
    status ``'optimal' | 'infeasible'`` (objective None when infeasible); ``.message`` (for people);
    ``outcomes_by_group()``, ``rank_histogram()`` ({1: n, 2: n, ..., 'unranked': n}),
    ``worst_off_group()``, ``groups_without_ranked(problem)``, ``fairness`` (a FairnessCost or
    None), ``to_json_dict()`` -> {status, objective, assignments: [{group, week, role, rank}],
    explanation (only when infeasible), fairness (only with a fairness rule)}
``FairnessCost(rule, objective, plain_objective, without_ranked, plain_without_ranked, worst_cost,
plain_worst_cost)``; ``.summary`` says it in one sentence
``Assignment(group, week, role, rank, cost)``                      one held slot (rank None = unranked)
``GroupOutcome(group, slots, cost)``                               one group's share of the result
``InfeasibilityReason(rule, message, shortfall, relaxation)``      why no assignment exists;
    rule is one of group_count, quota, availability, min_gap, role_balance, fixed, fairness,
    combination

Errors: malformed input raises :class:`InvalidAssignmentInput` (a ``ValueError``) or its
subclasses :class:`InvalidPreferences` (duplicate group names; a ranking repeating a week; a
ranked or unavailable week that is not a session; a week both ranked and unavailable) and
:class:`InvalidFixedSlot` (unknown group/week/role, a slot fixed twice, a group fixed to two roles
of one session), with a message naming the group and the offending items.
:class:`SolverDidNotFinish` is raised when the time limit (per MILP solve; a diagnosis runs several)
stops HiGHS before it proves optimality or infeasibility: never a silently sub-optimal answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal


if TYPE_CHECKING:
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

Status = Literal["optimal", "infeasible"]
Rule = Literal["group_count", "quota", "availability", "min_gap", "role_balance", "fixed", "fairness",
               "combination"]
# "at-least-one-ranked": every group that ranked a session holds at least one session it ranked.
# "min-worst": lexicographic; first the least possible worst slot cost, then the least total.
Fairness = Literal["at-least-one-ranked", "min-worst"]
FAIRNESS_RULES: tuple[Fairness, ...] = ("at-least-one-ranked", "min-worst")
RankKey = int | Literal["unranked"]

# scipy.optimize.milp status codes (HiGHS underneath).
_MILP_OPTIMAL = 0
_MILP_LIMIT_REACHED = 1
_MILP_INFEASIBLE = 2

# Long lists of groups or weeks make explanations unreadable; name a few and count the rest.
_MAX_NAMED_ITEMS = 5


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class InvalidAssignmentInput(ValueError):
    """The course set-up or options given to the solver are malformed."""


class InvalidPreferences(InvalidAssignmentInput):
    """A group's ranking or unavailable weeks are malformed."""


class InvalidFixedSlot(InvalidAssignmentInput):
    """A fixed slot names an unknown group, week or role, or clashes with another fixed slot."""


class SolverDidNotFinish(RuntimeError):
    """HiGHS stopped (time limit or numerical trouble) before proving its answer."""


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPreferences:
    """One group's wishes: sessions (weeks) most preferred first, and weeks it cannot present."""

    name: str
    ranking: tuple[int, ...] = ()
    unavailable: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # Callers naturally pass lists and sets; store immutable copies so the problem is hashable
        # and cannot change under the solver.
        object.__setattr__(self, "ranking", tuple(self.ranking))
        object.__setattr__(self, "unavailable", frozenset(self.unavailable))


@dataclass(frozen=True)
class FixedSlot:
    """A slot that a group already holds and must keep (published, or moved by hand).

    ``frozen`` marks a slot that is history (its session was held, or it was graded): no
    relaxation offers to release it, and the minimum gap between two frozen slots is not
    re-checked (the past cannot be changed; the gap only binds the slots still to place).
    """

    group: str
    week: int
    role: str
    frozen: bool = False


@dataclass(frozen=True)
class AssignmentProblem:
    """Everything the solver needs; construction validates it and raises on malformed input."""

    weeks: tuple[int, ...]
    roles: tuple[str, ...]
    groups: tuple[GroupPreferences, ...]
    quota: int | None = None
    min_gap_weeks: int = 0
    fixed: tuple[FixedSlot, ...] = ()
    # (week, role) slots left empty: their session is over, so nobody can take them.
    closed: frozenset[tuple[int, str]] = frozenset()
    fairness: Fairness | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weeks", tuple(self.weeks))
        object.__setattr__(self, "roles", tuple(self.roles))
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "fixed", tuple(self.fixed))
        object.__setattr__(self, "closed", frozenset(self.closed))
        self._validate_course()
        self._validate_groups()
        self._validate_fixed()

    @property
    def slot_count(self) -> int:
        """Slots to hold: every (week, role) but the closed ones."""
        return len(self.weeks) * len(self.roles) - len(self.closed)

    def slots_per_group_range(self) -> tuple[int, int]:
        """(fewest, most) slots any one group may hold under the quota rule."""
        even_share_low = self.slot_count // len(self.groups)
        even_share_high = -(-self.slot_count // len(self.groups))
        if self.quota is None:
            return even_share_low, even_share_high
        return min(even_share_low, self.quota), self.quota

    def _validate_course(self) -> None:
        if not self.weeks:
            raise InvalidAssignmentInput("the course has no paper sessions (weeks is empty)")
        not_ints = [week for week in self.weeks if not _is_int(week)]
        if not_ints:
            raise InvalidAssignmentInput(f"session weeks must be integers, got {_list(not_ints)}")
        repeated_weeks = _repeated(self.weeks)
        if repeated_weeks:
            raise InvalidAssignmentInput(f"session weeks listed more than once: {_list(repeated_weeks)}")
        if not self.roles:
            raise InvalidAssignmentInput("no presentation roles given (roles is empty)")
        bad_roles = [role for role in self.roles if not isinstance(role, str) or not role]
        if bad_roles:
            raise InvalidAssignmentInput(f"roles must be non-empty strings, got {_list(bad_roles)}")
        repeated_roles = _repeated(self.roles)
        if repeated_roles:
            raise InvalidAssignmentInput(f"roles listed more than once: {_list(repeated_roles)}")
        if self.quota is not None and (not _is_int(self.quota) or self.quota < 1):
            raise InvalidAssignmentInput(f"quota must be a positive integer or None, got {self.quota!r}")
        if not _is_int(self.min_gap_weeks) or self.min_gap_weeks < 0:
            raise InvalidAssignmentInput(
                f"min_gap_weeks must be a non-negative integer, got {self.min_gap_weeks!r}"
            )
        unknown_closed = sorted(slot for slot in self.closed
                                if slot[0] not in self.weeks or slot[1] not in self.roles)
        if unknown_closed:
            raise InvalidAssignmentInput(f"closed slots name unknown weeks or roles: {_list(unknown_closed)}")
        if self.fairness not in (None, *FAIRNESS_RULES):
            raise InvalidAssignmentInput(
                f"fairness must be one of {_list(FAIRNESS_RULES)} or None, got {self.fairness!r}"
            )

    def _validate_groups(self) -> None:
        if not self.groups:
            raise InvalidAssignmentInput("no groups to assign")
        bad_names = [group.name for group in self.groups if not isinstance(group.name, str) or not group.name]
        if bad_names:
            raise InvalidPreferences(f"group names must be non-empty strings, got {_list(bad_names)}")
        repeated_names = _repeated(group.name for group in self.groups)
        if repeated_names:
            raise InvalidPreferences(f"group names listed more than once: {_list(repeated_names)}")
        sessions = set(self.weeks)
        for group in self.groups:
            repeated_ranks = _repeated(group.ranking)
            if repeated_ranks:
                raise InvalidPreferences(
                    f"group {group.name!r} ranks week(s) {_list(repeated_ranks)} more than once"
                )
            unknown_ranked = [week for week in group.ranking if week not in sessions]
            if unknown_ranked:
                raise InvalidPreferences(
                    f"group {group.name!r} ranks week(s) {_list(unknown_ranked)}, "
                    f"which are not paper sessions (sessions: {_list(self.weeks)})"
                )
            unknown_unavailable = sorted(week for week in group.unavailable if week not in sessions)
            if unknown_unavailable:
                raise InvalidPreferences(
                    f"group {group.name!r} marks week(s) {_list(unknown_unavailable)} unavailable, "
                    f"which are not paper sessions (sessions: {_list(self.weeks)})"
                )
            contradictory = [week for week in group.ranking if week in group.unavailable]
            if contradictory:
                raise InvalidPreferences(
                    f"group {group.name!r} both ranks and marks unavailable week(s) {_list(contradictory)}"
                )

    def _validate_fixed(self) -> None:
        group_names = {group.name for group in self.groups}
        sessions = set(self.weeks)
        roles = set(self.roles)
        holder_of_slot: dict[tuple[int, str], str] = {}
        role_of_group_week: dict[tuple[str, int], str] = {}
        for slot in self.fixed:
            if slot.group not in group_names:
                raise InvalidFixedSlot(f"fixed slot {_slot(slot)} names unknown group {slot.group!r}")
            if slot.week not in sessions:
                raise InvalidFixedSlot(f"fixed slot {_slot(slot)} is in week {slot.week}, which is not a paper session")
            if slot.role not in roles:
                raise InvalidFixedSlot(f"fixed slot {_slot(slot)} names unknown role {slot.role!r}")
            if (slot.week, slot.role) in holder_of_slot:
                raise InvalidFixedSlot(
                    f"slot week {slot.week} {slot.role!r} is fixed more than once "
                    f"(groups {holder_of_slot[(slot.week, slot.role)]!r} and {slot.group!r})"
                )
            if (slot.week, slot.role) in self.closed:
                raise InvalidFixedSlot(f"fixed slot {_slot(slot)} is also listed as closed")
            holder_of_slot[(slot.week, slot.role)] = slot.group
            other_role = role_of_group_week.setdefault((slot.group, slot.week), slot.role)
            if other_role != slot.role:
                raise InvalidFixedSlot(
                    f"group {slot.group!r} is fixed to two roles in week {slot.week}: "
                    f"{other_role!r} and {slot.role!r}"
                )


def preference_cost(group: GroupPreferences, week: int) -> int:
    """Cost of giving ``group`` one slot in ``week``: rank squared, or (k+1) squared if unranked."""
    if week in group.ranking:
        return (group.ranking.index(week) + 1) ** 2
    return (len(group.ranking) + 1) ** 2


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One held slot; ``rank`` is None when the group did not rank that session."""

    group: str
    week: int
    role: str
    rank: int | None
    cost: int


@dataclass(frozen=True)
class GroupOutcome:
    """One group's share of an assignment, for the preview page."""

    group: str
    slots: tuple[Assignment, ...]
    cost: int


@dataclass(frozen=True)
class InfeasibilityReason:
    """A rule that cannot be met, how far off it is (in the unit the message names), and a fix."""

    rule: Rule
    message: str
    shortfall: int | None
    relaxation: str
    # The relaxed rule's new value where one number says it (a quota, a gap; 0 = no gap), so
    # callers can offer the re-run without parsing the sentence.
    suggested_value: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "shortfall": self.shortfall,
                "relaxation": self.relaxation, "suggested_value": self.suggested_value}


@dataclass(frozen=True)
class FairnessCost:
    """What a fairness rule cost against the plain optimum of the same rules."""

    rule: Fairness
    objective: int
    plain_objective: int
    # Groups that ranked sessions but hold none they ranked (with the rule, and without it).
    without_ranked: tuple[str, ...]
    plain_without_ranked: tuple[str, ...]
    # The highest cost of any one slot (rank squared), with the rule and without it.
    worst_cost: int
    plain_worst_cost: int

    @property
    def summary(self) -> str:
        rule = {"at-least-one-ranked": "every group gets a session it ranked",
                "min-worst": "the worst choice first, then the total"}[self.rule]
        plain_missing = len(self.plain_without_ranked)
        return (
            f"Fairness rule ({rule}): objective {self.objective} vs {self.plain_objective} without it; "
            f"worst slot cost {self.worst_cost} vs {self.plain_worst_cost}; without the rule "
            f"{plain_missing} group{_plural(plain_missing)} had no ranked session"
            + (f" ({', '.join(self.plain_without_ranked)})" if plain_missing else "")
            + f", with it {len(self.without_ranked)}."
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "objective": self.objective, "plain_objective": self.plain_objective,
                "without_ranked": list(self.without_ranked),
                "plain_without_ranked": list(self.plain_without_ranked),
                "worst_cost": self.worst_cost, "plain_worst_cost": self.plain_worst_cost,
                "summary": self.summary}


@dataclass(frozen=True)
class AssignmentResult:
    """The solver's answer: a provably optimal assignment, or the reasons none exists."""

    status: Status
    objective: int | None
    assignments: tuple[Assignment, ...]
    group_names: tuple[str, ...]
    explanation: tuple[InfeasibilityReason, ...] = ()
    fairness: FairnessCost | None = None

    def groups_without_ranked(self, problem: AssignmentProblem) -> tuple[str, ...]:
        """Groups that ranked at least one session but hold none of them."""
        satisfied = {a.group for a in self.assignments if a.rank is not None}
        return tuple(group.name for group in problem.groups if group.ranking and group.name not in satisfied)

    @property
    def message(self) -> str:
        if self.status == "optimal":
            fairness = f" {self.fairness.summary}" if self.fairness else ""
            return f"Optimal assignment of {len(self.assignments)} slots, total cost {self.objective}.{fairness}"
        reasons = "\n".join(f"- {reason.message}; {reason.relaxation}" for reason in self.explanation)
        return f"No assignment meets every rule:\n{reasons}"

    def outcomes_by_group(self) -> dict[str, GroupOutcome]:
        """Every group (also those holding nothing) with its slots in week order and its cost."""
        slots_of: dict[str, list[Assignment]] = {name: [] for name in self.group_names}
        for assignment in self.assignments:
            slots_of[assignment.group].append(assignment)
        return {
            name: GroupOutcome(name, tuple(sorted(slots, key=lambda a: a.week)), sum(a.cost for a in slots))
            for name, slots in slots_of.items()
        }

    def rank_histogram(self) -> dict[RankKey, int]:
        """How many slots went to a group's 1st, 2nd, ... choice, then ``'unranked'``."""
        counts = Counter(assignment.rank for assignment in self.assignments)
        histogram: dict[RankKey, int] = {rank: counts[rank] for rank in sorted(r for r in counts if r is not None)}
        if None in counts:
            histogram["unranked"] = counts[None]
        return histogram

    def worst_off_group(self) -> GroupOutcome | None:
        """The group paying the highest total cost (first by name on ties); None if infeasible."""
        if self.status != "optimal":
            return None
        return min(self.outcomes_by_group().values(), key=lambda outcome: (-outcome.cost, outcome.group))

    def to_json_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "status": self.status,
            "objective": self.objective,
            "assignments": [
                {"group": a.group, "week": a.week, "role": a.role, "rank": a.rank} for a in self.assignments
            ],
        }
        if self.status == "infeasible":
            document["explanation"] = [reason.to_json_dict() for reason in self.explanation]
        if self.fairness is not None:
            document["fairness"] = self.fairness.to_json_dict()
        return document


# ---------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------

# Cost of one variable x[group, week, role]; the diagnosis swaps in other objectives.
SlotCost = Callable[[GroupPreferences, int, str], int]


def solve_assignment(problem: AssignmentProblem, *, time_limit_seconds: float = 60.0) -> AssignmentResult:
    """Minimise total preference cost under every rule; explain the failure if none can be met.

    With a fairness rule the plain optimum is solved too, so the result reports what the rule
    costs (``AssignmentResult.fairness``).
    """
    group_names = tuple(group.name for group in problem.groups)
    plain = replace(problem, fairness=None)
    plain_chosen = _solve_milp(plain, _preference_slot_cost, time_limit_seconds)
    if plain_chosen is None:
        return AssignmentResult("infeasible", None, (), group_names, _diagnose(plain, time_limit_seconds))
    if problem.fairness is None:
        return _optimal(problem, plain_chosen, group_names)
    if problem.fairness == "min-worst":
        cap = _least_worst_cost(problem, time_limit_seconds)
        chosen = _solve_milp(problem, _preference_slot_cost, time_limit_seconds, max_cost=cap)
    else:
        chosen = _solve_milp(problem, _preference_slot_cost, time_limit_seconds)
    if chosen is None:
        return AssignmentResult("infeasible", None, (), group_names, (_explain_fairness(problem, time_limit_seconds),))
    result = _optimal(problem, chosen, group_names)
    plain_result = _optimal(plain, plain_chosen, group_names)
    report = FairnessCost(
        rule=problem.fairness,
        objective=result.objective or 0,
        plain_objective=plain_result.objective or 0,
        without_ranked=result.groups_without_ranked(problem),
        plain_without_ranked=plain_result.groups_without_ranked(problem),
        worst_cost=max((a.cost for a in result.assignments), default=0),
        plain_worst_cost=max((a.cost for a in plain_result.assignments), default=0),
    )
    return replace(result, fairness=report)


def _optimal(problem: AssignmentProblem, chosen: list[tuple[GroupPreferences, int, str]],
             group_names: tuple[str, ...]) -> AssignmentResult:
    role_order = {role: index for index, role in enumerate(problem.roles)}
    assignments = sorted(
        (
            Assignment(
                group=group.name,
                week=week,
                role=role,
                rank=group.ranking.index(week) + 1 if week in group.ranking else None,
                cost=preference_cost(group, week),
            )
            for group, week, role in chosen
        ),
        key=lambda a: (a.week, role_order[a.role]),
    )
    objective = sum(assignment.cost for assignment in assignments)
    return AssignmentResult("optimal", objective, tuple(assignments), group_names)


def _least_worst_cost(problem: AssignmentProblem, time_limit_seconds: float) -> int:
    """The smallest cap on any placed slot's cost that still leaves a valid assignment.

    Feasibility only grows with the cap, so a binary search over the distinct costs needs
    log2(#costs) feasibility solves. Fixed slots are exempt from the cap: they are given.
    The caller knows the problem is feasible, so the largest cost always works.
    """
    costs = sorted({preference_cost(group, week) for group in problem.groups for week in problem.weeks})
    low, high = 0, len(costs) - 1
    while low < high:
        middle = (low + high) // 2
        if _solve_milp(problem, _no_cost, time_limit_seconds, max_cost=costs[middle]) is not None:
            high = middle
        else:
            low = middle + 1
    return costs[low]


def _preference_slot_cost(group: GroupPreferences, week: int, role: str) -> int:
    return preference_cost(group, week)


def _no_cost(group: GroupPreferences, week: int, role: str) -> int:
    return 0


@dataclass
class _ConstraintRows:
    """Sparse constraint rows lb <= A x <= ub, appended block by block."""

    row_blocks: list[np.ndarray] = field(default_factory=list)
    column_blocks: list[np.ndarray] = field(default_factory=list)
    value_blocks: list[np.ndarray] = field(default_factory=list)
    lower_blocks: list[np.ndarray] = field(default_factory=list)
    upper_blocks: list[np.ndarray] = field(default_factory=list)
    row_total: int = 0

    def add(self, rows: np.ndarray, columns: np.ndarray, values: np.ndarray,
            block_size: int, low: float | np.ndarray, high: float | np.ndarray) -> None:
        """Add ``block_size`` rows; ``rows`` are numbered within the block."""
        import numpy as np
        self.row_blocks.append(self.row_total + rows)
        self.column_blocks.append(columns)
        self.value_blocks.append(values)
        self.lower_blocks.append(np.full(block_size, low))
        self.upper_blocks.append(np.full(block_size, high))
        self.row_total += block_size

    def constraint(self, column_total: int) -> LinearConstraint:
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array
        matrix = coo_array(
            (np.concatenate(self.value_blocks),
             (np.concatenate(self.row_blocks), np.concatenate(self.column_blocks))),
            shape=(self.row_total, column_total),
        ).tocsr()
        return LinearConstraint(matrix, np.concatenate(self.lower_blocks), np.concatenate(self.upper_blocks))


@dataclass(frozen=True)
class _SlotVariables:
    """The binary x[g, s, r] columns: one per (group, session, role) the group may hold."""

    group: np.ndarray
    session: np.ndarray
    role: np.ndarray
    cost: np.ndarray
    lower: np.ndarray
    frozen: np.ndarray
    ranked: np.ndarray

    @property
    def count(self) -> int:
        return len(self.group)


def _slot_variables(problem: AssignmentProblem, slot_cost: SlotCost, max_cost: int | None = None) -> _SlotVariables:
    # Columns only where a group may present: fewer variables than a full cube with zero bounds.
    fixed_keys = {(slot.group, slot.week, slot.role): slot.frozen for slot in problem.fixed}
    fixed_weeks = {(slot.group, slot.week) for slot in problem.fixed}
    columns: list[tuple[int, int, int, int, int, int, int]] = []
    for group_index, group in enumerate(problem.groups):
        for session_index, week in enumerate(problem.weeks):
            if week in group.unavailable and (group.name, week) not in fixed_weeks:
                continue
            ranked = 1 if week in group.ranking else 0
            too_costly = max_cost is not None and preference_cost(group, week) > max_cost
            for role_index, role in enumerate(problem.roles):
                key = (group.name, week, role)
                if (week, role) in problem.closed or (too_costly and key not in fixed_keys):
                    continue
                is_fixed = 1 if key in fixed_keys else 0
                is_frozen = 1 if fixed_keys.get(key) else 0
                columns.append((group_index, session_index, role_index, slot_cost(group, week, role),
                                is_fixed, is_frozen, ranked))
    return _SlotVariables(*_int_columns(columns, width=7))


def _solve_milp(
    problem: AssignmentProblem,
    slot_cost: SlotCost,
    time_limit_seconds: float,
    *,
    balance_roles: bool = True,
    max_cost: int | None = None,
    unranked_group_cost: int | None = None,
) -> list[tuple[GroupPreferences, int, str]] | None:
    """Build and solve the MILP; the chosen (group, week, role) triples, or None if infeasible.

    Columns: binary x[g, s, r], then (with role balance) one integer b[g] per group, the lower
    level of its per-role counts: b[g] <= count[g, r] <= b[g] + 1 for every role r says exactly
    "role counts differ by at most one", i.e. floor(n/R) or ceil(n/R), whatever load n the
    solver picks for the group.

    ``max_cost`` drops the columns (other than fixed ones) whose preference cost exceeds it.
    With the "at-least-one-ranked" rule, every group that ranked something holds a session it
    ranked; ``unranked_group_cost`` makes that rule soft (a slack column per group at that cost),
    which the diagnosis uses to name the fewest groups that must go without.
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    weeks, roles, groups = problem.weeks, problem.roles, problem.groups
    role_count, group_count = len(roles), len(groups)
    x = _slot_variables(problem, slot_cost, max_cost)
    x_columns = np.arange(x.count)
    ones = np.ones(x.count)
    fewest, most = problem.slots_per_group_range()
    rows = _ConstraintRows()
    # Every slot held by exactly one group; a closed slot (no columns) by none.
    open_slot = np.array([0 if (week, role) in problem.closed else 1 for week in weeks for role in roles])
    rows.add(x.session * role_count + x.role, x_columns, ones, len(weeks) * role_count, open_slot, open_slot)
    # Slots per group within the quota range.
    rows.add(x.group, x_columns, ones, group_count, fewest, most)
    # At most one slot per group in any window of weeks narrower than the gap; the one-week
    # window is the "never two roles of one session" rule, so both rules share these rows.
    sessions_windows, window_total = _gap_windows(weeks, problem.min_gap_weeks)
    memberships = [(column, window) for column, session in enumerate(x.session) for window in sessions_windows[session]]
    member_columns, member_windows = _int_columns(memberships, width=2)
    member_rows = x.group[member_columns] * window_total + member_windows
    # Frozen slots already closer than the gap are history: such a window allows exactly those,
    # so nothing new joins it, instead of making every run infeasible.
    frozen_in_window = np.bincount(member_rows, weights=x.frozen[member_columns],
                                   minlength=group_count * window_total)
    rows.add(member_rows, member_columns, np.ones(len(memberships)), group_count * window_total,
             -np.inf, np.maximum(frozen_in_window, 1))

    column_total = x.count
    lower, upper, cost = x.lower, np.ones(x.count), x.cost
    if problem.fairness == "at-least-one-ranked":
        rankers = np.array([index for index, group in enumerate(groups) if group.ranking], dtype=np.int64)
        row_of_group = np.full(group_count, -1)
        row_of_group[rankers] = np.arange(len(rankers))
        ranked_columns = np.flatnonzero((x.ranked == 1) & (row_of_group[x.group] >= 0))
        row_ids = row_of_group[x.group[ranked_columns]]
        row_columns, row_values = ranked_columns, np.ones(len(ranked_columns))
        if unranked_group_cost is not None:
            slack = column_total + np.arange(len(rankers))
            row_ids = np.concatenate([row_ids, np.arange(len(rankers))])
            row_columns = np.concatenate([row_columns, slack])
            row_values = np.concatenate([row_values, np.ones(len(rankers))])
            column_total += len(rankers)
            lower = np.concatenate([lower, np.zeros(len(rankers))])
            upper = np.concatenate([upper, np.ones(len(rankers))])
            cost = np.concatenate([cost, np.full(len(rankers), unranked_group_cost)])
        rows.add(row_ids, row_columns, row_values, len(rankers), 1, np.inf)
    if balance_roles:
        balance_columns = column_total + np.arange(group_count)
        # 0 <= count[g, r] - b[g] <= 1, one ranged row per (group, role).
        rows.add(
            np.concatenate([x.group * role_count + x.role, np.arange(group_count * role_count)]),
            np.concatenate([x_columns, np.repeat(balance_columns, role_count)]),
            np.concatenate([ones, -np.ones(group_count * role_count)]),
            group_count * role_count, 0, 1,
        )
        column_total += group_count
        lower = np.concatenate([lower, np.full(group_count, fewest // role_count)])
        upper = np.concatenate([upper, np.full(group_count, most // role_count)])
        cost = np.concatenate([cost, np.zeros(group_count)])

    result = milp(
        cost,
        integrality=np.ones(column_total),
        bounds=Bounds(lower, upper),
        constraints=rows.constraint(column_total),
        # Costs are integers, so a zero gap makes "optimal" mean proven optimal, not within 0.01%.
        options={"time_limit": time_limit_seconds, "mip_rel_gap": 0.0},
    )
    if result.status == _MILP_INFEASIBLE:
        return None
    if result.status == _MILP_LIMIT_REACHED:
        raise SolverDidNotFinish(
            f"the solver reached its {time_limit_seconds:g} s limit before proving an optimal assignment; "
            "raise the time limit or simplify the rules"
        )
    if result.status != _MILP_OPTIMAL:
        raise SolverDidNotFinish(f"the solver stopped without an answer: {result.message}")
    held = np.flatnonzero(result.x[:x.count] > 0.5)
    return [(groups[x.group[c]], weeks[x.session[c]], roles[x.role[c]]) for c in held]


def _gap_windows(weeks: Sequence[int], min_gap_weeks: int) -> tuple[list[list[int]], int]:
    """Maximal sets of sessions pairwise closer than the gap: (windows of each session, count).

    Sessions sorted by week; the window starting at session i holds every session whose week is
    below week_i + gap. Any too-close pair lies in the window of its earlier session, and a
    window contained in its predecessor adds nothing, so only the maximal ones become rows.
    """
    width = max(min_gap_weeks, 1)
    order = sorted(range(len(weeks)), key=lambda index: weeks[index])
    windows: list[list[int]] = []
    last_end = -1
    for position, start in enumerate(order):
        end = position
        while end + 1 < len(order) and weeks[order[end + 1]] < weeks[start] + width:
            end += 1
        if end > last_end:
            windows.append(order[position:end + 1])
            last_end = end
    windows_of_session: list[list[int]] = [[] for _ in weeks]
    for window_index, members in enumerate(windows):
        for session_index in members:
            windows_of_session[session_index].append(window_index)
    return windows_of_session, len(windows)


# ---------------------------------------------------------------------------------------------
# Diagnosis of infeasibility
# ---------------------------------------------------------------------------------------------


def _diagnose(problem: AssignmentProblem, time_limit_seconds: float) -> tuple[InfeasibilityReason, ...]:
    """Cheap counting arguments first; otherwise re-solve with one rule relaxed at a time."""
    counted = _counting_reasons(problem)
    if counted:
        return tuple(counted)
    relaxed = [
        reason
        for attempt in (_relax_gap, _relax_quota, _relax_unavailability, _relax_role_balance, _relax_fixed)
        if (reason := attempt(problem, time_limit_seconds)) is not None
    ]
    if relaxed:
        return tuple(relaxed)
    return (
        InfeasibilityReason(
            "combination",
            "the rules conflict in combination: relaxing any single one (gap, quota, unavailable weeks, "
            "role balance, fixed slots) still leaves no valid assignment",
            None,
            "relax several rules at once, e.g. drop the minimum gap and raise the quota",
        ),
    )


def _counting_reasons(problem: AssignmentProblem) -> list[InfeasibilityReason]:
    reasons: list[InfeasibilityReason] = []
    role_count = len(problem.roles)
    group_count = len(problem.groups)
    if group_count < role_count:
        missing = role_count - group_count
        return [
            InfeasibilityReason(
                "group_count",
                f"each session needs {role_count} different groups (one per role) but the course has only "
                f"{group_count}: {missing} short",
                missing,
                f"add {missing} group{_plural(missing)} or use fewer roles",
            )
        ]
    fewest, most = problem.slots_per_group_range()
    holdable = group_count * most
    if holdable < problem.slot_count:
        short = problem.slot_count - holdable
        needed_quota = -(-problem.slot_count // group_count)
        reasons.append(
            InfeasibilityReason(
                "quota",
                f"{holdable} slot{_plural(holdable)} can be held but {problem.slot_count} must be filled: "
                f"{short} slot{_plural(short)} short",
                short,
                f"allow a quota of {needed_quota}",
                needed_quota,
            )
        )
    fixed_per_group = Counter(slot.group for slot in problem.fixed)
    releasable_per_group = Counter(slot.group for slot in problem.fixed if not slot.frozen)
    for name, held in sorted(fixed_per_group.items()):
        if held > most:
            over = held - most
            # Held or graded slots cannot be released, so only the rest are offered.
            release = (f" or release {over} of its hand-placed slots"
                       if releasable_per_group[name] >= over else "")
            reasons.append(
                InfeasibilityReason(
                    "quota",
                    f"group {name!r} already holds {held} fixed slots but may hold at most {most}: "
                    f"{over} over",
                    over,
                    f"allow a quota of {held}{release}",
                    held,
                )
            )
    fixed_weeks = {(slot.group, slot.week) for slot in problem.fixed}

    def can_present(group: GroupPreferences, week: int) -> bool:
        return week not in group.unavailable or (group.name, week) in fixed_weeks

    open_roles = {week: sum(1 for role in problem.roles if (week, role) not in problem.closed)
                  for week in problem.weeks}
    for week in sorted(problem.weeks):
        presenters = [group.name for group in problem.groups if can_present(group, week)]
        if len(presenters) < open_roles[week]:
            short = open_roles[week] - len(presenters)
            who = f"only {len(presenters)} can present" + (f" ({_list(presenters)})" if presenters else "")
            reasons.append(
                InfeasibilityReason(
                    "availability",
                    f"week {week} needs {open_roles[week]} presenting group{_plural(open_roles[week])} but {who}: "
                    f"{short} short",
                    short,
                    f"ask {short} more group{_plural(short)} to free week {week}, or drop week {week} "
                    "from the paper sessions",
                )
            )
    for group in problem.groups:
        open_weeks = [week for week in problem.weeks if open_roles[week] and can_present(group, week)]
        if len(open_weeks) < fewest:
            short = fewest - len(open_weeks)
            reasons.append(
                InfeasibilityReason(
                    "availability",
                    f"group {group.name!r} can present in only {len(open_weeks)} session{_plural(len(open_weeks))} "
                    f"but must hold at least {fewest} slot{_plural(fewest)}: {short} short",
                    short,
                    f"ask group {group.name!r} to free {short} more week{_plural(short)}",
                )
            )
    return reasons


def _is_feasible(problem: AssignmentProblem, time_limit_seconds: float, *, balance_roles: bool = True) -> bool:
    return _solve_milp(problem, _no_cost, time_limit_seconds, balance_roles=balance_roles) is not None


def _relax_gap(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason | None:
    gap = problem.min_gap_weeks
    if gap <= 1 or not _is_feasible(replace(problem, min_gap_weeks=0), time_limit_seconds):
        return None
    # Feasibility only grows as the gap shrinks, so the first feasible gap counting down is the largest.
    largest = next(
        (smaller for smaller in range(gap - 1, 1, -1)
         if _is_feasible(replace(problem, min_gap_weeks=smaller), time_limit_seconds)),
        None,
    )
    relaxation = "drop the minimum gap" if largest is None else f"reduce the minimum gap to {largest} weeks"
    # A gap of 1 already holds for any two sessions, so dropping the gap means 1, not 0, fewer weeks.
    return InfeasibilityReason(
        "min_gap",
        f"no assignment keeps each group's slots {gap} weeks apart",
        gap - (largest or 1),
        relaxation,
        largest or 0,
    )


def _relax_quota(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason | None:
    _, most = problem.slots_per_group_range()
    # No group can hold more slots than there are sessions, so larger quotas change nothing.
    for quota in range(most + 1, len(problem.weeks) + 1):
        if _is_feasible(replace(problem, quota=quota), time_limit_seconds):
            return InfeasibilityReason(
                "quota",
                f"no assignment works while each group holds at most {most} slot{_plural(most)}",
                quota - most,
                f"allow a quota of {quota}",
                quota,
            )
    return None


def _relax_unavailability(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason | None:
    unavailable_of = {group.name: group.unavailable for group in problem.groups}
    if not any(unavailable_of.values()):
        return None
    available_everywhere = replace(
        problem, groups=tuple(replace(group, unavailable=frozenset()) for group in problem.groups)
    )

    def unavailable_use(group: GroupPreferences, week: int, role: str) -> int:
        return 1 if week in unavailable_of[group.name] else 0

    chosen = _solve_milp(available_everywhere, unavailable_use, time_limit_seconds)
    if chosen is None:
        return None
    overrides = sorted({(week, group.name) for group, week, _ in chosen if week in unavailable_of[group.name]})
    described = [f"group {name!r} in week {week}" for week, name in overrides]
    return InfeasibilityReason(
        "availability",
        f"the unavailable weeks leave too few groups: at least {len(overrides)} slot{_plural(len(overrides))} "
        "must go to a group in a week it marked unavailable",
        len(overrides),
        f"ask {_list(described)} to present despite marking the week unavailable",
    )


def _relax_role_balance(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason | None:
    if len(problem.roles) == 1 or not _is_feasible(problem, time_limit_seconds, balance_roles=False):
        return None
    return InfeasibilityReason(
        "role_balance",
        "no assignment gives every group each role an equal number of times (within one)",
        None,
        "let some groups present the same role more often than others",
    )


def _relax_fixed(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason | None:
    # Frozen slots are history and stay; only the others may be released.
    releasable = [slot for slot in problem.fixed if not slot.frozen]
    if not releasable:
        return None
    # A fixed slot may sit in a week its group marked unavailable; releasing the slot must not
    # also forbid the group that week, or the relaxation would release more than it has to.
    fixed_weeks_of: dict[str, set[int]] = {}
    for slot in releasable:
        fixed_weeks_of.setdefault(slot.group, set()).add(slot.week)
    released = replace(
        problem,
        fixed=tuple(slot for slot in problem.fixed if slot.frozen),
        groups=tuple(
            replace(group, unavailable=group.unavailable - fixed_weeks_of.get(group.name, set()))
            for group in problem.groups
        ),
    )
    fixed_keys = {(slot.group, slot.week, slot.role) for slot in releasable}

    def keep_fixed(group: GroupPreferences, week: int, role: str) -> int:
        # Rewarding every kept fixed slot makes the optimum release as few of them as possible.
        return -1 if (group.name, week, role) in fixed_keys else 0

    chosen = _solve_milp(released, keep_fixed, time_limit_seconds)
    if chosen is None:
        return None
    kept = {(group.name, week, role) for group, week, role in chosen}
    to_release = [_slot(slot) for slot in releasable if (slot.group, slot.week, slot.role) not in kept]
    return InfeasibilityReason(
        "fixed",
        f"the fixed slots cannot all be kept: {len(to_release)} of them conflict with the rules",
        len(to_release),
        f"release {_list(to_release)}",
    )


def _explain_fairness(problem: AssignmentProblem, time_limit_seconds: float) -> InfeasibilityReason:
    """The rules hold without the fairness rule but not with it: name the fewest groups left out."""
    chosen = _solve_milp(problem, _no_cost, time_limit_seconds, unranked_group_cost=1)
    satisfied = {group.name for group, week, _ in (chosen or []) if week in group.ranking}
    left_out = [group.name for group in problem.groups if group.ranking and group.name not in satisfied]
    count = len(left_out)
    return InfeasibilityReason(
        "fairness",
        f"no assignment gives every group a session it ranked: at least {count} group{_plural(count)} "
        f"must go without one (e.g. {_list(left_out)}), because the sessions they ranked are taken, "
        "over, or ruled out by the gap or quota",
        count,
        f"run without the fairness rule, or ask {_list(left_out)} to rank more sessions",
    )


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _int_columns(records: Sequence[tuple[int, ...]], width: int) -> list[np.ndarray]:
    """Transpose records into integer arrays, one per field (empty arrays when there are none)."""
    import numpy as np
    table = np.asarray(records, dtype=np.int64).reshape(len(records), width)
    return [table[:, index] for index in range(width)]


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as a week or quota is a caller bug, not a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _repeated(items: Iterable[Any]) -> list[Any]:
    counts = Counter(items)
    return [item for item, count in counts.items() if count > 1]


def _list(items: Sequence[Any]) -> str:
    # Quote everything but plain week numbers so a week given as the string "5" reads as '5'.
    shown = ", ".join(str(item) if _is_int(item) else repr(item) for item in items[:_MAX_NAMED_ITEMS])
    hidden = len(items) - _MAX_NAMED_ITEMS
    return shown + (f" and {hidden} more" if hidden > 0 else "")


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _slot(slot: FixedSlot) -> str:
    return f"({slot.group!r}, week {slot.week}, {slot.role!r})"
