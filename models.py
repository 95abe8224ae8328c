"""Every table of the platform, grouped by capability.

Sections, in order:
    Core        -- db, Base with a constraint naming convention, the UTC column type
    Accounts    -- User, PasswordToken
    Courses     -- Course, Enrollment, Week, Paper, PaperSession, PresentationRole, ImportJob
    Groups      -- Group, Membership
    Signup      -- Slot, SlotPresenter, SlotWaitlist, GroupPreference, GroupUnavailability,
                   SwapProposal, AssignmentRun
    Reviews     -- Review, ReviewVersion, ReviewExcuse, ReviewAccess, SessionAnalysis
    Grading     -- Rubric, Score, MemberAdjustment, PeerRating, ParticipationRecord,
                   RegradeRequest
    Gradebook   -- GradeItem, LateDayEntry
    Audit       -- AuditEntry
    Live session -- LiveRun, LiveSegment, LiveQuestion, QuestionVote, SlideDeck, ReviewRating
    Notifications -- OutboxMessage, ReviewReminder, ReminderOptOut, StaffDigest

Times are stored as naive UTC and handed to Python as aware UTC datetimes (``UTCDateTime``);
they are converted to the course timezone only in templates and exports.
This module imports nothing from ``review/``.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime, timezone
from typing import Any, Optional

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# ============================================================================ Core

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (pass the function itself as a default)."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, refuses naive input so no local time sneaks in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def new_token() -> str:
    return secrets.token_urlsafe(32)


# ============================================================================ Accounts


class User(UserMixin, db.Model):
    """A person with a login; their role is per course (see Enrollment)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[Optional[str]] = mapped_column(String(255))
    # Rotated by sign-out and password change; the user loader refuses cookies carrying an old one.
    session_token: Mapped[str] = mapped_column(String(64), default=new_token)
    # Secret part of the personal calendar feed's URL (review.signup.calendar.personal_feed);
    # replaced when the user asks for a new address, which makes the old one 404.
    calendar_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set at each sign-in, so instructors can see which staff have started using the site.
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    enrollments: Mapped[list["Enrollment"]] = relationship(back_populates="user")

    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class TokenPurpose(str, enum.Enum):
    set_password = "set_password"
    reset_password = "reset_password"


class PasswordToken(db.Model):
    """A one-time link to set or reset a password; only its hash is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[TokenPurpose] = mapped_column(Enum(TokenPurpose, native_enum=False, length=20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


# ============================================================================ Courses


class CourseRole(str, enum.Enum):
    instructor = "instructor"
    ta = "ta"
    student = "student"


class Course(db.Model):
    """One offering of a course in one term, defined by a course YAML file."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    term: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    discussion_minutes: Mapped[int] = mapped_column(default=10)
    group_min_size: Mapped[int] = mapped_column(default=2)
    group_max_size: Mapped[int] = mapped_column(default=3)
    groups_locked: Mapped[bool] = mapped_column(default=False)
    # Secret part of the course's calendar feed URL (calendar apps cannot sign in).
    calendar_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    # The validated course definition (review.courses.definition.CourseDefinition) as loaded;
    # the columns above are the parts the database itself must check or query by.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved on by every write that can change a grade (review.gradebook.revision), so the
    # gradebook computed for one revision can be reused until the next.
    grades_revision: Mapped[int] = mapped_column(default=0, server_default="0")

    enrollments: Mapped[list["Enrollment"]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )
    weeks: Mapped[list["Week"]] = relationship(
        back_populates="course", order_by="Week.number", cascade="all, delete-orphan"
    )
    sessions: Mapped[list["PaperSession"]] = relationship(
        back_populates="course", order_by="PaperSession.starts_at", cascade="all, delete-orphan"
    )
    roles: Mapped[list["PresentationRole"]] = relationship(
        back_populates="course", order_by="PresentationRole.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("group_min_size >= 1", name="group_min_positive"),
        CheckConstraint("group_max_size >= group_min_size", name="group_size_range"),
        CheckConstraint("discussion_minutes >= 0", name="discussion_minutes_nonnegative"),
        CheckConstraint("grades_revision >= 0", name="grades_revision_nonnegative"),
    )

    def __repr__(self) -> str:
        return f"<Course {self.code}>"


class Enrollment(db.Model):
    """A user's role in one course; students carry their university student id (and section)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[CourseRole] = mapped_column(Enum(CourseRole, native_enum=False, length=20))
    student_number: Mapped[Optional[str]] = mapped_column(String(32))
    program: Mapped[Optional[str]] = mapped_column(String(64))
    # From the roster file: the class section, and the student's username in the university LMS
    # (the Blackboard/Canvas exports match students on it).
    section: Mapped[Optional[str]] = mapped_column(String(32))
    username: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff listed under ``staff:`` in the course file; a re-import removes only these, never
    # staff added by hand.
    from_course_file: Mapped[bool] = mapped_column(default=False, server_default=false())

    course: Mapped[Course] = relationship(back_populates="enrollments")
    user: Mapped[User] = relationship(back_populates="enrollments")

    __table_args__ = (
        UniqueConstraint("course_id", "user_id"),
        UniqueConstraint("course_id", "student_number"),
        UniqueConstraint("course_id", "username"),
        CheckConstraint(
            "role <> 'student' OR student_number IS NOT NULL", name="student_has_number"
        ),
    )


class Week(db.Model):
    """A week of the term's schedule: its first lecture date and topic, or a break."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200), default="")
    is_break: Mapped[bool] = mapped_column(default=False)

    course: Mapped[Course] = relationship(back_populates="weeks")
    session: Mapped[Optional["PaperSession"]] = relationship(back_populates="week")

    __table_args__ = (
        UniqueConstraint("course_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )


class Paper(db.Model):
    """A paper discussed in a paper session."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    authors: Mapped[str] = mapped_column(String(1000), default="")
    venue: Mapped[str] = mapped_column(String(100), default="")
    year: Mapped[Optional[int]]
    url: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (UniqueConstraint("course_id", "title"),)


class PaperSession(db.Model):
    """One week's paper discussion: presentations by three groups, then the class discussion."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    week_id: Mapped[int] = mapped_column(ForeignKey("week.id", ondelete="CASCADE"), unique=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    review_opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    review_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    reviews_released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    feedback_released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Where the session meets, when the course file says (shown on schedules and in calendars).
    room: Mapped[str] = mapped_column(String(100), default="", server_default="")

    course: Mapped[Course] = relationship(back_populates="sessions")
    week: Mapped[Week] = relationship(back_populates="session")
    paper: Mapped[Paper] = relationship()
    slots: Mapped[list["Slot"]] = relationship(back_populates="session", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("review_opens_at <= review_deadline", name="review_window_ordered"),
    )


class PresentationRole(db.Model):
    """A presenting role of a paper session (overview, strengths, weaknesses) with its time box."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    minutes: Mapped[int]
    position: Mapped[int]

    course: Mapped[Course] = relationship(back_populates="roles")

    __table_args__ = (
        UniqueConstraint("course_id", "key"),
        UniqueConstraint("course_id", "position"),
        CheckConstraint("minutes > 0", name="minutes_positive"),
    )


class ImportJob(db.Model):
    """A large roster file, validated by the page and applied by a background job."""

    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    # What the rows are: "roster" (review.courses.imports).
    kind: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    # The validated rows, as the page read them from the file.
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What the import did, as the synchronous page would have flashed it.
    summary: Mapped[str] = mapped_column(Text, default="")
    # Why the last try failed ("" when it did not); shown to staff.
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship()


# ============================================================================ Groups


class Group(db.Model):
    """A student group that presents papers together."""

    # "group" is an SQL keyword; a plain name keeps hand-written SQL and psql sessions simple.
    __tablename__ = "student_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    join_code: Mapped[str] = mapped_column(String(32), unique=True)
    calendar_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A group dissolved after it presented keeps its row, so its held slots keep their holder
    # and its presenters keep their credit; it has no members and is hidden from every list.
    dissolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return self.display_name_of(self.name, self.dissolved_at)

    @staticmethod
    def display_name_of(name: str, dissolved_at: Optional[datetime]) -> str:
        """The display name from the two columns (for pages that read plain rows)."""
        return f"{name} (dissolved)" if dissolved_at is not None else name

    __table_args__ = (
        UniqueConstraint("course_id", "name"),
        # Lets Membership and Slot prove by foreign key that a group belongs to their course.
        UniqueConstraint("id", "course_id"),
    )


class Membership(db.Model):
    """A student's place in a group; at most one group per student per course."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("course_id", "user_id"),
        ForeignKeyConstraint(
            ["group_id", "course_id"], ["student_group.id", "student_group.course_id"], ondelete="CASCADE"
        ),
    )


# ============================================================================ Signup


class Slot(db.Model):
    """One paper session x one presenting role, held by at most one group."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("presentation_role.id", ondelete="CASCADE"))
    group_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("student_group.id", ondelete="SET NULL"), index=True
    )
    held_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # How the group came to hold it: claim, assignment, manual, swap, waitlist.
    source: Mapped[Optional[str]] = mapped_column(String(20))
    feedback_released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When the presenters were recorded (session held or first score saved); from then on
    # SlotPresenter, not the group's current members, says who gets the credit.
    presenters_recorded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Optimistic lock for concurrent edits of the slot's holder.
    version: Mapped[int] = mapped_column(default=1)

    session: Mapped[PaperSession] = relationship(back_populates="slots")
    role: Mapped[PresentationRole] = relationship()
    group: Mapped[Optional[Group]] = relationship()
    presenters: Mapped[list["SlotPresenter"]] = relationship(
        back_populates="slot", cascade="all, delete-orphan", order_by="SlotPresenter.user_id"
    )

    __table_args__ = (
        UniqueConstraint("session_id", "role_id"),
        # A group never holds two roles of the same paper (NULL holders are not compared).
        UniqueConstraint("session_id", "group_id"),
    )
    __mapper_args__ = {"version_id_col": version}


class SlotPresenter(db.Model):
    """A student who presented a slot: the holder group's members when it was recorded."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    slot: Mapped[Slot] = relationship(back_populates="presenters")
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("slot_id", "user_id"),)


class SlotWaitlist(db.Model):
    """A group waiting for a taken slot, first come first served."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("student_group.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    slot: Mapped[Slot] = relationship()
    group: Mapped[Group] = relationship()

    __table_args__ = (UniqueConstraint("slot_id", "group_id"),)


class GroupPreference(db.Model):
    """A group's rank for a paper session (1 = most preferred)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("student_group.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))
    rank: Mapped[int]

    __table_args__ = (
        UniqueConstraint("group_id", "session_id"),
        UniqueConstraint("group_id", "rank"),
        CheckConstraint("rank >= 1", name="rank_positive"),
    )


class GroupUnavailability(db.Model):
    """A paper session a group cannot present at."""

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("student_group.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))

    __table_args__ = (UniqueConstraint("group_id", "session_id"),)


class SwapProposal(db.Model):
    """One group proposes to exchange one of its slots with another group's slot."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    from_slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    to_slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    proposer_group_id: Mapped[int] = mapped_column(ForeignKey("student_group.id", ondelete="CASCADE"))
    target_group_id: Mapped[int] = mapped_column(ForeignKey("student_group.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    from_slot: Mapped[Slot] = relationship(foreign_keys=[from_slot_id])
    to_slot: Mapped[Slot] = relationship(foreign_keys=[to_slot_id])

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn', 'void')", name="status_known"
        ),
        CheckConstraint("from_slot_id <> to_slot_id", name="distinct_slots"),
    )


class AssignmentRun(db.Model):
    """One run of the optimal assignment: its preview, and when it was published."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    objective: Mapped[Optional[int]]
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    published_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("status IN ('optimal', 'infeasible')", name="status_known"),
    )


# ============================================================================ Reviews


class ReviewStatus(str, enum.Enum):
    draft = "draft"
    submitted = "submitted"


class Review(db.Model):
    """A student's review of one paper session: the working copy plus its submit state."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReviewStatus] = mapped_column(
        Enum(ReviewStatus, native_enum=False, length=20), default=ReviewStatus.draft
    )
    # Sections by name (summary, strengths, weaknesses, remedies, questions: list[str]); once
    # submitted, exactly the latest submitted version.
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Autosaved edits of a submitted review, not yet submitted again (None when there are none).
    revision: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    content_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    days_late: Mapped[int] = mapped_column(default=0)
    late_penalty_pct: Mapped[float] = mapped_column(Float, default=0.0)
    feedback_released_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)
    # ``content`` rendered to sanitised HTML at submit ({"renderer", "sha256", "html"}), so the
    # reading views render no Markdown; used only while renderer version and hash still match.
    rendered: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)

    session: Mapped[PaperSession] = relationship()
    user: Mapped[User] = relationship()
    versions: Mapped[list["ReviewVersion"]] = relationship(
        back_populates="review", order_by="ReviewVersion.number", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("session_id", "user_id"),
        CheckConstraint("days_late >= 0", name="days_late_nonnegative"),
        CheckConstraint(
            "late_penalty_pct >= 0 AND late_penalty_pct <= 100", name="penalty_in_range"
        ),
    )
    __mapper_args__ = {"version_id_col": version}


class ReviewVersion(db.Model):
    """A submitted version of a review, kept when the student revises."""

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    review: Mapped[Review] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("review_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )


class ReviewExcuse(db.Model):
    """Staff excuse a student from reviewing one session, with a reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    excused_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "user_id"),)


class ReviewAccess(db.Model):
    """The first time a student opened classmates' reviews of a session (shown to staff)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    first_read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "user_id"),)


class SessionAnalysis(db.Model):
    """A result computed by a background job from a session's submitted reviews (the similarity
    check, the question digest), kept with the fingerprint of the reviews it was computed from."""

    __table_args__ = (UniqueConstraint("session_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("paper_session.id", ondelete="CASCADE"))
    # "similarity" or "digest".
    kind: Mapped[str] = mapped_column(String(20))
    # SHA-256 of what the result depends on (submitted reviews' ids and hashes, settings); a
    # page whose current fingerprint differs shows the result as being updated.
    source_hash: Mapped[str] = mapped_column(String(64), default="")
    computed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # None until the first result.
    payload: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # Why the last try failed after all its retries ("" when it did not); shown to staff.
    error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    session: Mapped[PaperSession] = relationship()


# ============================================================================ Grading


class Rubric(db.Model):
    """A rubric as loaded from rubrics/<key>.yaml; a changed file becomes a new version."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # "" for the deployment's rubrics/, else the code of the course whose rubrics_dir brought it.
    # A string rather than a nullable course FK: NULLs are distinct in unique constraints on both
    # SQLite and PostgreSQL, so (NULL, key, version) could repeat; "" keeps one rule for all.
    scope: Mapped[str] = mapped_column(String(64), default="", server_default="")
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    applies_to: Mapped[str] = mapped_column(String(32))
    max_score: Mapped[float] = mapped_column(Float)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("scope", "key", "version"),
        UniqueConstraint("scope", "key", "content_hash"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("max_score > 0", name="max_score_positive"),
    )


class ScoreTarget(str, enum.Enum):
    presentation = "presentation"
    review = "review"
    participation = "participation"


class Score(db.Model):
    """One grader's rubric score of one item: a presentation slot, a review, or participation."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubric.id", ondelete="RESTRICT"))
    grader_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    target: Mapped[ScoreTarget] = mapped_column(Enum(ScoreTarget, native_enum=False, length=20))
    slot_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("slot.id", ondelete="CASCADE"), index=True
    )
    review_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("review.id", ondelete="CASCADE"), index=True
    )
    # Participation is scored per student per session.
    session_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE")
    )
    student_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    overall_comment: Mapped[str] = mapped_column(Text, default="")
    total: Mapped[float] = mapped_column(Float)
    max_total: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    # Set when the score changed after its feedback was released, so the student is told.
    updated_after_release_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    rubric: Mapped[Rubric] = relationship()
    grader: Mapped[User] = relationship(foreign_keys=[grader_id])

    __table_args__ = (
        UniqueConstraint("slot_id", "grader_id"),
        UniqueConstraint("review_id", "grader_id"),
        UniqueConstraint("session_id", "student_id", "grader_id"),
        CheckConstraint(
            "(target = 'presentation' AND slot_id IS NOT NULL AND review_id IS NULL"
            " AND session_id IS NULL AND student_id IS NULL)"
            " OR (target = 'review' AND review_id IS NOT NULL AND slot_id IS NULL"
            " AND session_id IS NULL AND student_id IS NULL)"
            " OR (target = 'participation' AND session_id IS NOT NULL AND student_id IS NOT NULL"
            " AND slot_id IS NULL AND review_id IS NULL)",
            name="one_target",
        ),
        CheckConstraint("total >= 0 AND total <= max_total", name="total_in_range"),
    )
    __mapper_args__ = {"version_id_col": version}


class MemberAdjustment(db.Model):
    """The instructor's adjustment of one group member's presentation grade, with a reason."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    delta_pct: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("slot_id", "user_id"),
        CheckConstraint("delta_pct >= -100 AND delta_pct <= 100", name="delta_in_range"),
    )


class PeerRating(db.Model):
    """A non-presenting student's rating of one presentation with the peer rubric."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubric.id", ondelete="RESTRICT"))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[float] = mapped_column(Float)
    max_total: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("slot_id", "rater_id"),
        CheckConstraint("total >= 0 AND total <= max_total", name="total_in_range"),
    )


class ParticipationRecord(db.Model):
    """A contribution in class: a review question marked as raised, or manual points."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # For kind 'question': which review and which of its questions was raised.
    review_id: Mapped[Optional[int]] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"))
    question_index: Mapped[Optional[int]]
    points: Mapped[float] = mapped_column(Float, default=1.0)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("review_id", "question_index"),
        CheckConstraint("kind IN ('question', 'manual')", name="kind_known"),
        CheckConstraint(
            "kind <> 'question' OR (review_id IS NOT NULL AND question_index IS NOT NULL)",
            name="question_has_source",
        ),
    )


class RegradeRequest(db.Model):
    """A student's one request per item to have a grade looked at again."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    slot_id: Mapped[Optional[int]] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"))
    review_id: Mapped[Optional[int]] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    reply: Mapped[str] = mapped_column(Text, default="")
    resolved_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "slot_id"),
        UniqueConstraint("user_id", "review_id"),
        CheckConstraint("(slot_id IS NULL) <> (review_id IS NULL)", name="one_item"),
        CheckConstraint("status IN ('open', 'changed', 'kept')", name="status_known"),
    )


# ============================================================================ Gradebook


class GradeItem(db.Model):
    """A grade for an external component (quiz, assignment, midterm, project part)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("course_id", "user_id", "component"),
        CheckConstraint("score >= 0", name="score_nonnegative"),
    )


class LateDayEntry(db.Model):
    """A use (positive days) or refund (negative days) of a student's grace-day pool."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    days: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200))
    review_id: Mapped[Optional[int]] = mapped_column(ForeignKey("review.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("days <> 0", name="days_nonzero"),)


# ============================================================================ Audit


class AuditEntry(db.Model):
    """Who changed what, when, from which value to which, and why (grades, slots, groups)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    category: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[Optional[int]]
    old: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    new: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[Optional[User]] = relationship()


# ============================================================================ Live session


class LiveRun(db.Model):
    """The run sheet of one paper session in class: which segment is on and its clock."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE"), unique=True
    )
    # Index into the session's segments (roles in order, then the discussion); equal to the
    # number of segments once the run sheet is finished.
    segment: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    segment_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while the clock is paused; the pause is added to paused_seconds on resume.
    paused_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0)
    extension_seconds: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Every control request checks it: two "next" taps on one segment move only once.
    version: Mapped[int] = mapped_column(default=1)

    session: Mapped[PaperSession] = relationship()

    __table_args__ = (
        CheckConstraint("segment >= 0", name="segment_nonnegative"),
        CheckConstraint("paused_seconds >= 0", name="paused_nonnegative"),
        CheckConstraint("extension_seconds >= 0", name="extension_nonnegative"),
    )
    __mapper_args__ = {"version_id_col": version}


class LiveSegment(db.Model):
    """One finished segment of a run sheet: planned against measured time."""

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_run.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    # NULL for the discussion; the role's slot when a presentation.
    slot_id: Mapped[Optional[int]] = mapped_column(ForeignKey("slot.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(100))
    planned_seconds: Mapped[int]
    extension_seconds: Mapped[int] = mapped_column(default=0)
    actual_seconds: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def overtime_seconds(self) -> int:
        return max(0, self.actual_seconds - self.planned_seconds - self.extension_seconds)

    __table_args__ = (
        UniqueConstraint("run_id", "position"),
        CheckConstraint("actual_seconds >= 0", name="actual_nonnegative"),
    )


class LiveQuestion(db.Model):
    """A question in a session's discussion queue: from the reviews' digest or added live."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # For digest questions: the review question shown for its collapsed copies, and how many
    # students asked it.
    review_id: Mapped[Optional[int]] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"))
    question_index: Mapped[Optional[int]]
    asked_count: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # The student credited when staff marked it raised or answered.
    credited_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    participation_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("participation_record.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Bumped by every vote, mark and re-count, so the live view's ETag can be computed from the
    # sum over a session without reading the votes.
    version: Mapped[int] = mapped_column(default=1)

    author: Mapped[Optional[User]] = relationship(foreign_keys=[author_id])
    credited: Mapped[Optional[User]] = relationship(foreign_keys=[credited_id])

    __table_args__ = (
        UniqueConstraint("review_id", "question_index"),
        CheckConstraint("status IN ('open', 'raised', 'answered')", name="status_known"),
        CheckConstraint("asked_count >= 1", name="asked_positive"),
    )


class QuestionVote(db.Model):
    """One student's upvote of one queue question (at most one per student per question)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("live_question.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("question_id", "user_id"),)


class SlideDeck(db.Model):
    """One version of a presenting group's slides: a stored PDF or a link."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    # A random name in the slide store (instance/slides/ or the S3 bucket; never the uploaded
    # name), or NULL for a link.
    stored_name: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(default=0)
    url: Mapped[str] = mapped_column(String(500), default="")
    uploaded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("slot_id", "version"),
        CheckConstraint("(stored_name IS NULL) <> (url = '')", name="file_or_link"),
        CheckConstraint("version >= 1", name="version_positive"),
    )


class ReviewRating(db.Model):
    """A presenter's or staff member's rating of how helpful a review was for the discussion."""

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    helpfulness: Mapped[int]
    # Tag keys from review.live.services.HELPFULNESS_TAGS.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("review_id", "rater_id"),
        CheckConstraint("helpfulness >= 1 AND helpfulness <= 5", name="helpfulness_in_range"),
    )


# ============================================================================ Notifications


class OutboxStatus(str, enum.Enum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class OutboxMessage(db.Model):
    """One mail: written in the action's transaction, sent by a job, kept for the staff outbox."""

    __table_args__ = (CheckConstraint("attempts >= 0", name="outbox_attempts_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    # The account a set-password or reset link is for: the link's token is made at sending time,
    # so no usable token is ever stored here.
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(64))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=10), default=OutboxStatus.queued, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    course: Mapped[Optional[Course]] = relationship()


class ReviewReminder(db.Model):
    """A review reminder sent to a student for a session: at most one of each kind, ever."""

    __table_args__ = (
        UniqueConstraint("session_id", "user_id", "hours_before", name="review_reminder_once"),
        CheckConstraint("hours_before > 0", name="review_reminder_hours_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("paper_session.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # Which reminder: so many hours before the deadline (24, 2).
    hours_before: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderOptOut(db.Model):
    """A student who asked for no review reminders in a course."""

    __table_args__ = (UniqueConstraint("user_id", "course_id", name="reminder_opt_out_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffDigest(db.Model):
    """The weekly staff digest of a course, sent: at most one per course and week, ever."""

    __table_args__ = (UniqueConstraint("course_id", "week_start", name="staff_digest_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    # The Monday (course-local date) of the week the digest is for.
    week_start: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
