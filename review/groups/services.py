"""Groups: students form them with a join code; staff create, edit, merge, dissolve, move,
auto-form and import them. Every change is recorded in the audit log (category "group").

Sizes come from Course.group_min_size/group_max_size. Students may create, join and leave only
while the course's groups are not locked (``groups_locked``: by the course file's ``groups.lock``
rule, or by hand); staff may always change groups (the maximum size still holds; a group below
the minimum is allowed while groups form and shown as such).

Import (CSV/XLSX, columns ``group, student_id``, one row per member) is all or nothing. It
creates groups that do not exist and adds the listed students; it never removes anyone. A
student already in a *different* group is refused with a row-level message (move them first,
or dissolve that group); a student already in the same group is left as is.

Presentation credit: every change of membership first records the presenters of every slot
whose session has started (``review.signup.presenters.record_due_presenters``), so leaving,
joining, moving or merging never takes a held talk from who gave it nor hands it to who did
not. A group that holds such a slot is dissolved softly (``Group.dissolved_at``): its members
are removed and its future slots open, but its row and its held slots stay, shown as
"Name (dissolved)"; it is hidden from every list, lookup and join code. A group that never
presented is deleted.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from models import (AssignmentRun, AuditEntry, Course, CourseRole, Enrollment, Group, Membership,
                    PaperSession, Slot, SlotWaitlist, SwapProposal, User, Week, db, utcnow)
from review.core.errors import DomainError
from review.courses.definition import GroupRulesDef
from review.courses.roster import TableFileError, require_columns
from review.notifications import events as notify
from review.signup.presenters import record_due_presenters

if TYPE_CHECKING:
    import pandas as pd


class GroupError(DomainError):
    """A group rule said no."""


class GroupsLocked(GroupError):
    pass


class GroupFull(GroupError):
    pass


class AlreadyInGroup(GroupError):
    pass


class NotInGroup(GroupError):
    pass


# ---------------------------------------------------------------------------- the lock


def groups_locked(course: Course, now: datetime) -> Optional[str]:
    """Why students can no longer change their groups at ``now``, or None while they can.

    Locked by the staff (Course.groups_locked), or by the course file's ``groups.lock`` rule:
    at the first paper session's start (on_first_session, and on_publish too, since a group
    that has presented must not change under its grade), or when the presentation assignment
    is published (on_publish)."""
    if course.groups_locked:
        return "Groups of this course are locked by the staff"
    rule = GroupRulesDef.model_validate((course.definition or {}).get("groups") or {}).lock
    if rule == "manual":
        return None
    first = db.session.execute(
        select(PaperSession.starts_at, Week.number).join(Week, PaperSession.week_id == Week.id)
        .where(PaperSession.course_id == course.id)
        .order_by(PaperSession.starts_at).limit(1)).first()
    if first is not None and first.starts_at <= now:
        return f"Groups of this course are locked since week {first.number} began"
    if rule == "on_publish" and db.session.scalar(select(AssignmentRun.id).where(
            AssignmentRun.course_id == course.id, AssignmentRun.published_at.is_not(None),
            AssignmentRun.published_at <= now).limit(1)) is not None:
        return "Groups of this course are locked since the presentation assignment was published"
    return None


def _refuse_if_locked(course: Course, now: datetime) -> None:
    reason = groups_locked(course, now)
    if reason is not None:
        raise GroupsLocked(f"{reason}; ask the course staff to move you.")


# ---------------------------------------------------------------------------- helpers


def _audit(course_id: int, actor: Optional[User], action: str, group: Optional[Group], *,
           old: Any = None, new: Any = None, reason: str = "") -> None:
    db.session.add(AuditEntry(course_id=course_id, actor_id=actor.id if actor else None,
                              category="group", action=action, entity="group",
                              entity_id=group.id if group is not None else None,
                              old=old, new=new, reason=reason))


def _live(query: Any) -> Any:
    """Restrict a query of groups to those not dissolved."""
    return query.where(Group.dissolved_at.is_(None))


def _require_live(*groups: Group) -> None:
    for group in groups:
        if group.dissolved_at is not None:
            raise GroupError(f"{group.name} was dissolved; it can no longer change.")


def _record(course: Course, now: Optional[datetime]) -> datetime:
    """Before any membership change: fix who presented every session held so far."""
    now = now or utcnow()
    record_due_presenters(course, now)
    return now


def new_join_code() -> str:
    return secrets.token_urlsafe(9)


def group_of(course: Course, user: User) -> Optional[Group]:
    return db.session.scalar(select(Group).join(Membership).where(
        Membership.course_id == course.id, Membership.user_id == user.id))


def member_ids(group: Group) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(
        Membership.group_id == group.id).order_by(Membership.id)))


def _size(group: Group) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership)
                             .where(Membership.group_id == group.id)) or 0


def _lock(group: Group) -> None:
    db.session.execute(select(Group.id).where(Group.id == group.id).with_for_update())


def _require_student(course: Course, user: User) -> Enrollment:
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))
    if enrollment is None or enrollment.role != CourseRole.student:
        raise GroupError(f"{user.full_name} is not a student of this course.")
    return enrollment


def _require_staff(course: Course, user: User) -> None:
    role = db.session.scalar(select(Enrollment.role).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))
    if role not in (CourseRole.instructor, CourseRole.ta):
        raise GroupError("Only the course staff can do that.")


def _check_name(course: Course, name: str, *, ignoring: Optional[Group] = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise GroupError("Give the group a name.")
    if len(name) > 100:
        raise GroupError("A group name has at most 100 characters.")
    clash = db.session.scalar(select(Group).where(Group.course_id == course.id,
                                                  func.lower(Group.name) == name.lower()))
    if clash is not None and clash.dissolved_at is not None:
        raise GroupError(f"A dissolved group was called '{clash.name}' and its past talks "
                         "still show that name; pick another name.")
    if clash is not None and clash is not ignoring:
        raise GroupError(f"There is already a group called '{clash.name}'.")
    return name


def _names(user_ids: list[int]) -> list[str]:
    if not user_ids:
        return []
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    return [users[i].full_name for i in user_ids if i in users]


def _new_group(course: Course, name: str) -> Group:
    group = Group(course_id=course.id, name=name, join_code=new_join_code())
    db.session.add(group)
    try:
        db.session.flush()
    except IntegrityError:
        raise GroupError(f"There is already a group called '{name}'.") from None
    return group


def _add_member(course: Course, group: Group, user: User) -> None:
    db.session.add(Membership(course_id=course.id, group_id=group.id, user_id=user.id))
    try:
        db.session.flush()
    except IntegrityError:
        raise AlreadyInGroup(f"{user.full_name} is already in a group.") from None


def _release_slots(group: Group) -> list[int]:
    """Open the group's slots that are still ahead; held ones (presenters recorded) stay."""
    slot_ids = list(db.session.scalars(select(Slot.id).where(
        Slot.group_id == group.id, Slot.presenters_recorded_at.is_(None))))
    if slot_ids:
        db.session.execute(update(Slot).where(Slot.id.in_(slot_ids)).values(
            group_id=None, source=None, held_since=None, version=Slot.version + 1)
            .execution_options(synchronize_session=False))
    return slot_ids


# ---------------------------------------------------------------------------- students


def create_group(course: Course, actor: User, name: str, *, now: datetime) -> Group:
    """A student creates a group and becomes its first member."""
    _record(course, now)
    _require_student(course, actor)
    _refuse_if_locked(course, now)
    if group_of(course, actor) is not None:
        raise AlreadyInGroup("You are already in a group; leave it first.")
    group = _new_group(course, _check_name(course, name))
    _add_member(course, group, actor)
    _audit(course.id, actor, "create", group, new={"name": group.name, "members": [actor.id]})
    return group


def find_by_code(course: Course, code: str) -> Group:
    group = db.session.scalar(_live(select(Group).where(Group.course_id == course.id,
                                                       Group.join_code == code.strip())))
    if group is None:
        raise GroupError("No group of this course has that join code; check it with your group.")
    return group


def join_group(course: Course, actor: User, code: str, *, now: datetime) -> Group:
    _record(course, now)
    _require_student(course, actor)
    group = find_by_code(course, code)
    _refuse_if_locked(course, now)
    current = group_of(course, actor)
    if current is not None:
        raise AlreadyInGroup("You are already in a group." if current.id != group.id
                             else f"You are already in {group.name}.")
    _lock(group)
    if _size(group) >= course.group_max_size:
        raise GroupFull(f"{group.name} is full ({course.group_max_size} members at most).")
    _add_member(course, group, actor)
    _audit(course.id, actor, "join", group, new={"user_id": actor.id})
    return group


def leave_group(course: Course, actor: User, *, now: datetime) -> Optional[Group]:
    """The student leaves; a group left empty is dissolved (its future slots become open)."""
    _record(course, now)
    _refuse_if_locked(course, now)
    group = group_of(course, actor)
    if group is None:
        raise NotInGroup("You are not in a group.")
    membership = db.session.scalar(select(Membership).where(
        Membership.group_id == group.id, Membership.user_id == actor.id))
    db.session.delete(membership)
    db.session.flush()
    _audit(course.id, actor, "leave", group, old={"user_id": actor.id})
    if _size(group) == 0:
        _dissolve(course, group, actor, now, reason="the last member left")
        return None
    return group


# ---------------------------------------------------------------------------- staff


def staff_create_group(course: Course, actor: User, name: str, *,
                       now: Optional[datetime] = None) -> Group:
    _record(course, now)
    _require_staff(course, actor)
    group = _new_group(course, _check_name(course, name))
    _audit(course.id, actor, "create", group, new={"name": group.name, "members": []})
    return group


def rename_group(course: Course, group: Group, actor: User, name: str) -> Group:
    _require_staff(course, actor)
    _require_live(group)
    old = group.name
    group.name = _check_name(course, name, ignoring=group)
    db.session.flush()
    _audit(course.id, actor, "rename", group, old={"name": old}, new={"name": group.name})
    return group


def set_locked(course: Course, actor: User, locked: bool) -> None:
    _require_staff(course, actor)
    if course.groups_locked == locked:
        return
    course.groups_locked = locked
    _audit(course.id, actor, "lock" if locked else "unlock", None,
           old={"locked": not locked}, new={"locked": locked})
    db.session.flush()


def _held_slot_ids(group: Group) -> list[int]:
    return list(db.session.scalars(select(Slot.id).where(
        Slot.group_id == group.id, Slot.presenters_recorded_at.is_not(None))))


def _retire(group: Group, now: datetime) -> None:
    """Delete a group that never presented; keep one that did, dissolved and memberless, so
    its held slots keep their holder (a deleted group would leave them open and ungraded)."""
    if not _held_slot_ids(group):
        db.session.delete(group)
        db.session.flush()
        return
    db.session.execute(delete(Membership).where(Membership.group_id == group.id)
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(SlotWaitlist).where(SlotWaitlist.group_id == group.id))
    db.session.execute(update(SwapProposal).where(
        SwapProposal.status == "pending",
        (SwapProposal.proposer_group_id == group.id) | (SwapProposal.target_group_id == group.id))
        .values(status="void", decided_at=now).execution_options(synchronize_session=False))
    group.dissolved_at = now
    db.session.flush()
    db.session.expire(group, ["memberships"])


def _dissolve(course: Course, group: Group, actor: User, now: datetime,
              reason: str = "") -> None:
    members = member_ids(group)
    slots = _release_slots(group)
    # Before the members are removed: they are the ones to tell.
    notify.slots_changed(course, dict.fromkeys(slots, group.id),
                         cause="the group was dissolved, so its slots still ahead are open again")
    _audit(course.id, actor, "dissolve", group,
           old={"name": group.name, "members": members, "slots": slots,
                "held_slots": _held_slot_ids(group)}, reason=reason)
    _retire(group, now)


def dissolve_group(course: Course, group: Group, actor: User, *,
                   now: Optional[datetime] = None) -> None:
    """Members become ungrouped and the group's future slots open again; slots it already
    presented stay with it (see the module docstring)."""
    now = _record(course, now)
    _require_staff(course, actor)
    _require_live(group)
    _dissolve(course, group, actor, now)


def move_student(course: Course, student: User, target: Optional[Group], actor: User, *,
                 now: Optional[datetime] = None) -> None:
    """Put a student into ``target`` (or into no group); staff only, locked or not."""
    _record(course, now)
    _require_staff(course, actor)
    _require_student(course, student)
    current = group_of(course, student)
    if target is not None and current is not None and current.id == target.id:
        raise GroupError(f"{student.full_name} is already in {target.name}.")
    if target is None and current is None:
        raise GroupError(f"{student.full_name} is not in a group.")
    if target is not None:
        _require_live(target)
        _lock(target)
        if _size(target) >= course.group_max_size:
            raise GroupFull(f"{target.name} is full ({course.group_max_size} members at most).")
    if current is not None:
        membership = db.session.scalar(select(Membership).where(
            Membership.group_id == current.id, Membership.user_id == student.id))
        db.session.delete(membership)
        db.session.flush()
    if target is not None:
        _add_member(course, target, student)
    _audit(course.id, actor, "move_student", target or current,
           old={"user_id": student.id, "group": current.name if current else None},
           new={"user_id": student.id, "group": target.name if target else None})


def merge_groups(course: Course, keep: Group, absorb: Group, actor: User, *,
                 now: Optional[datetime] = None) -> Group:
    """Members of ``absorb`` join ``keep``. Its slots still ahead go to ``keep`` where ``keep``
    has no role of that paper yet, and open otherwise; the slots it already presented stay
    with it, so ``absorb`` is then dissolved softly (or deleted if it never presented)."""
    now = _record(course, now)
    _require_staff(course, actor)
    if keep.id == absorb.id:
        raise GroupError("Pick two different groups to merge.")
    _require_live(keep, absorb)
    moving = member_ids(absorb)
    if _size(keep) + len(moving) > course.group_max_size:
        raise GroupFull(f"{keep.name} and {absorb.name} together have "
                        f"{_size(keep) + len(moving)} members; the maximum is "
                        f"{course.group_max_size}.")
    kept_sessions = set(db.session.scalars(select(Slot.session_id).where(Slot.group_id == keep.id)))
    moved_slots, opened_slots = [], []
    for slot in db.session.scalars(select(Slot).where(Slot.group_id == absorb.id,
                                                      Slot.presenters_recorded_at.is_(None))):
        if slot.session_id in kept_sessions:
            slot.group_id, slot.source, slot.held_since = None, None, None
            opened_slots.append(slot.id)
        else:
            slot.group_id, slot.source = keep.id, "manual"
            kept_sessions.add(slot.session_id)
            moved_slots.append(slot.id)
        db.session.flush()
    db.session.execute(update(Membership).where(Membership.group_id == absorb.id)
                       .values(group_id=keep.id).execution_options(synchronize_session=False))
    # One mail to each member of the merged group, its changes seen as the merged group's:
    # what came from the absorbed group is new, what was opened is gone.
    notify.slots_changed(
        course, {**dict.fromkeys(moved_slots, absorb.id), **dict.fromkeys(opened_slots, keep.id)},
        cause=f"the course staff merged group {absorb.name} into {keep.name}; its slots still "
              f"ahead came along, except a second role of a paper {keep.name} already presents, "
              "which is open again")
    _audit(course.id, actor, "merge", keep,
           old={"kept": keep.name, "absorbed": absorb.name, "absorbed_id": absorb.id,
                "members": moving},
           new={"members": member_ids(keep), "slots_moved": moved_slots,
                "slots_opened": opened_slots})
    db.session.expire(absorb)
    _retire(absorb, now)
    db.session.expire(keep)
    return keep


# ---------------------------------------------------------------------------- auto-form


@dataclass
class AutoFormPlan:
    """What auto-forming would do; ``fingerprint`` lets the apply step refuse a stale preview."""

    new_groups: list[list[User]] = field(default_factory=list)
    additions: list[tuple[Group, User]] = field(default_factory=list)
    unplaced: list[User] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def empty(self) -> bool:
        return not self.new_groups and not self.additions


def ungrouped_students(course: Course) -> list[User]:
    grouped = select(Membership.user_id).where(Membership.course_id == course.id)
    return list(db.session.scalars(
        select(User).join(Enrollment).where(
            Enrollment.course_id == course.id, Enrollment.role == CourseRole.student,
            User.id.not_in(grouped)).order_by(User.last_name, User.first_name, User.id)))


def balanced_sizes(count: int, low: int, high: int) -> list[int]:
    """Sizes between low and high adding up to count, differing by at most one ([] if none)."""
    if count <= 0:
        return []
    groups = math.ceil(count / high)
    if groups * low > count:
        return []
    base, extra = divmod(count, groups)
    return [base + 1] * extra + [base] * (groups - extra)


def plan_auto_form(course: Course) -> AutoFormPlan:
    """Students without a group: top up groups below the minimum, then form new groups of
    balanced sizes within the limits; any remainder joins existing groups with room."""
    students = ungrouped_students(course)
    groups = list(db.session.scalars(_live(select(Group).where(Group.course_id == course.id))
                                     .options(selectinload(Group.memberships))
                                     .order_by(Group.name)))
    sizes = {group.id: len(group.memberships) for group in groups}
    plan = AutoFormPlan()
    pool = list(students)
    for group in groups:
        while pool and sizes[group.id] < course.group_min_size:
            plan.additions.append((group, pool.pop(0)))
            sizes[group.id] += 1
    # Leave aside as few students as possible so the rest form valid balanced groups.
    sizes_new: list[int] = []
    for leftover in range(0, len(pool) + 1):
        sizes_new = balanced_sizes(len(pool) - leftover, course.group_min_size,
                                   course.group_max_size)
        if sizes_new or len(pool) - leftover == 0:
            break
    start = 0
    for size in sizes_new:
        plan.new_groups.append(pool[start:start + size])
        start += size
    rest = pool[start:]
    for student in rest:
        roomy = sorted((g for g in groups if sizes[g.id] < course.group_max_size),
                       key=lambda g: (sizes[g.id], g.name))
        if not roomy:
            plan.unplaced.append(student)
            continue
        plan.additions.append((roomy[0], student))
        sizes[roomy[0].id] += 1
    plan.fingerprint = hashlib.sha256(
        ",".join(str(s.id) for s in students).encode()
        + b"|" + ",".join(f"{g.id}:{sizes[g.id]}" for g in groups).encode()).hexdigest()[:16]
    return plan


def apply_auto_form(course: Course, actor: User, fingerprint: str, *,
                    now: Optional[datetime] = None) -> AutoFormPlan:
    _record(course, now)
    _require_staff(course, actor)
    plan = plan_auto_form(course)
    if plan.fingerprint != fingerprint:
        raise GroupError("Groups changed since the preview; nothing was saved. Look at the new "
                         "preview and apply again.")
    for group, student in plan.additions:
        _add_member(course, group, student)
        _audit(course.id, actor, "auto_add", group, new={"user_id": student.id})
    taken = {g.name.lower() for g in db.session.scalars(select(Group).where(
        Group.course_id == course.id))}
    number = 1
    for members in plan.new_groups:
        while f"group {number}" in taken:
            number += 1
        name = f"Group {number}"
        taken.add(name.lower())
        group = _new_group(course, name)
        for student in members:
            _add_member(course, group, student)
        _audit(course.id, actor, "auto_create", group,
               new={"name": name, "members": [s.id for s in members]})
    return plan


# ---------------------------------------------------------------------------- import


@dataclass
class GroupRow:
    row: int
    group: str
    student_id: str


@dataclass
class GroupImportResult:
    created_groups: list[str] = field(default_factory=list)
    added: int = 0
    unchanged: int = 0
    # One line per group imported below the course's minimum size (only with allow_small).
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.created_groups)} new group(s), {self.added} membership(s) added, "
                f"{self.unchanged} already in place.")


def parse_group_table(frame: pd.DataFrame) -> list[GroupRow]:
    require_columns(frame, ("group", "student_id"))
    rows, problems = [], []
    for index, record in enumerate(frame.to_dict("records")):
        row = index + 2
        name, student_id = " ".join(record["group"].split()), record["student_id"]
        if not name and not student_id:
            continue
        if not name:
            problems.append(f"row {row}, column group: empty")
        elif len(name) > 100:
            problems.append(f"row {row}, column group: longer than 100 characters")
        if not student_id:
            problems.append(f"row {row}, column student_id: empty")
        rows.append(GroupRow(row=row, group=name, student_id=student_id))
    if problems:
        raise TableFileError(problems)
    if not rows:
        raise TableFileError(["the file has a header but no member rows"])
    return rows


def import_groups(course: Course, rows: list[GroupRow], actor: Optional[User], *,
                  allow_small: bool = False, now: Optional[datetime] = None) -> GroupImportResult:
    """All or nothing: every problem is named by row before anything is written.

    A group's size is its members after the import (those it has plus those the file adds).
    Above the course's maximum is always refused; below its minimum is refused unless
    ``allow_small``, which imports it with a warning line per small group.
    """
    _record(course, now)
    problems: list[str] = []
    students = {e.student_number: e for e in db.session.scalars(
        select(Enrollment).where(Enrollment.course_id == course.id,
                                 Enrollment.role == CourseRole.student)
        .options(selectinload(Enrollment.user)))}
    groups = {g.name.lower(): g for g in db.session.scalars(
        select(Group).where(Group.course_id == course.id)
        .options(selectinload(Group.memberships)))}
    dissolved = {key for key, g in groups.items() if g.dissolved_at is not None}
    current = {m.user_id: g for g in groups.values() for m in g.memberships}
    first_row: dict[str, int] = {}
    planned: dict[str, list[GroupRow]] = {}
    for row in rows:
        enrollment = students.get(row.student_id)
        if enrollment is None:
            problems.append(f"row {row.row}, column student_id: no student with id "
                            f"'{row.student_id}' in this course")
            continue
        if row.student_id in first_row:
            problems.append(f"row {row.row}, column student_id: '{row.student_id}' is already "
                            f"in the file on row {first_row[row.student_id]} (one group per "
                            "student)")
            continue
        first_row[row.student_id] = row.row
        if row.group.lower() in dissolved:
            problems.append(f"row {row.row}, column group: group '{row.group}' was dissolved; "
                            "use another name")
            continue
        existing = current.get(enrollment.user_id)
        if existing is not None and existing.name.lower() != row.group.lower():
            problems.append(f"row {row.row}, column group: student '{row.student_id}' is "
                            f"already in group '{existing.name}'; move them out first")
            continue
        planned.setdefault(row.group.lower(), []).append(row)
    small: list[str] = []
    for key, group_rows in planned.items():
        group = groups.get(key)
        already = {m.user_id for m in group.memberships} if group else set()
        incoming = {students[r.student_id].user_id for r in group_rows}
        total = len(already | incoming)
        name = group.name if group else group_rows[0].group
        where = (f"row{'s' if len(group_rows) > 1 else ''} "
                 f"{', '.join(str(r.row) for r in group_rows)}, column group: group '{name}'")
        if total > course.group_max_size:
            problems.append(f"{where} would have {total} members; the maximum is "
                            f"{course.group_max_size}")
        elif total < course.group_min_size and not allow_small:
            problems.append(f"{where} would have {_members(total)}; the minimum is "
                            f"{course.group_min_size} (to import it anyway, allow small groups: "
                            "--allow-small or the import page's checkbox)")
        elif total < course.group_min_size:
            small.append(f"group '{name}' has {_members(total)}, below the minimum of "
                         f"{course.group_min_size}")
    if problems:
        raise TableFileError(problems)
    result = GroupImportResult(warnings=small)
    for key, group_rows in planned.items():
        group = groups.get(key)
        if group is None:
            group = _new_group(course, group_rows[0].group)
            groups[key] = group
            result.created_groups.append(group.name)
            _audit(course.id, actor, "import_create", group, new={"name": group.name})
        for row in group_rows:
            user = students[row.student_id].user
            if current.get(user.id) is group:
                result.unchanged += 1
                continue
            _add_member(course, group, user)
            result.added += 1
            _audit(course.id, actor, "import_add", group,
                   new={"user_id": user.id, "student_id": row.student_id}, reason=f"row {row.row}")
    db.session.flush()
    return result


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


# ---------------------------------------------------------------------------- pages


def natural_key(name: str) -> list[Any]:
    """Sort key that puts "Group 2" before "Group 10"."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name)]


def course_groups(course: Course) -> list[Group]:
    """Every group with its members, in a fixed number of queries, in natural name order."""
    groups = db.session.scalars(
        _live(select(Group).where(Group.course_id == course.id))
        .options(selectinload(Group.memberships).joinedload(Membership.user)))
    return sorted(groups, key=lambda group: natural_key(group.name))


def group_in_course(course: Course, group_id: int) -> Optional[Group]:
    return db.session.scalar(_live(select(Group).where(Group.id == group_id,
                                                      Group.course_id == course.id)))


def student_in_course(course: Course, user_id: int) -> Optional[User]:
    return db.session.scalar(select(User).join(Enrollment).where(
        User.id == user_id, Enrollment.course_id == course.id,
        Enrollment.role == CourseRole.student))


def group_history(course: Course, limit: int = 50) -> list[AuditEntry]:
    return list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.course_id == course.id, AuditEntry.category == "group")
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        .options(selectinload(AuditEntry.actor))))
