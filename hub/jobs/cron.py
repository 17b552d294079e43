"""Five-field cron schedules (minute hour day-of-month month day-of-week), in UTC, as Airflow reads them.

Pure: parse a schedule, say whether a moment is one of its ticks, and find the next tick. Airflow evaluates cron
strings with croniter, which follows Vixie cron: ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists
``a,b``, month and day names (``jan``, ``mon``), day-of-week 0-7 (0 and 7 are Sunday), and when both day-of-month
and day-of-week are restricted (anything but a bare ``*``) a day matches either of them.
ref: https://man7.org/linux/man-pages/man5/crontab.5.html
ref: https://airflow.apache.org/docs/apache-airflow/stable/authoring-and-scheduling/timetable.html
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names for lowest, lowest+1, ...)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
# How far ahead the next tick is looked for: four years and a day covers every date, 29 February included.
SEARCH_DAYS = 4 * 366


class CronError(ValueError):
    """A schedule that is not five valid cron fields; the message says which field and how to write it."""


@dataclass(frozen=True)
class CronSchedule:
    text: str  # normalised: single spaces, lower case
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    def day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        by_month_day = moment.day in self.days_of_month
        by_week_day = (moment.isoweekday() % 7) in self.days_of_week
        if self.day_of_month_restricted and self.day_of_week_restricted:
            return by_month_day or by_week_day
        return by_month_day and by_week_day

    def is_tick(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) is exactly one of the schedule's ticks (whole minute, UTC)."""
        moment = moment.astimezone(UTC)
        if moment.second or moment.microsecond:
            return False
        return moment.minute in self.minutes and moment.hour in self.hours and self.day_matches(moment)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after ``moment`` (aware), or None when there is none within four years."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(SEARCH_DAYS):
            if self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        tick = day.replace(hour=hour, minute=minute)
                        if tick >= start:
                            return tick
            day += timedelta(days=1)
        return None


def _number(token: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if token.lower() in names:
        return low + names.index(token.lower())
    if not token.isdigit():
        allowed = f"{low}-{high}" + (f" or a name ({', '.join(names[:3])}, ...)" if names else "")
        raise CronError(f"the {name} field has {token!r}, which is not a number {allowed}")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"the {name} field has {value}, outside {low}-{high}")
    return value


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"the {name} field {text!r} has an empty list item")
        span, _, step_text = part.partition("/")
        step = 1
        if step_text or part.endswith("/"):
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"the {name} field has step {step_text!r}: a step is a whole number from 1")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, _, last_text = span.partition("-")
            first = _number(first_text, name, low, high, names)
            last = _number(last_text, name, low, high, names)
            if first > last:
                raise CronError(f"the {name} field has the range {span!r}, which runs backwards")
        else:
            first = _number(span, name, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse(text: str) -> CronSchedule:
    """The schedule of a five-field cron string, or :class:`CronError` naming the field at fault."""
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"a cron schedule has 5 fields (minute hour day-of-month month day-of-week), this one has {len(parts)}"
        )
    values = [_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    days_of_week = frozenset(day % 7 for day in values[4])  # 7 is Sunday too
    return CronSchedule(
        text=" ".join(parts).lower(),
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=days_of_week,
        # croniter (Airflow's) counts only a bare "*" as unrestricted ("*/2" restricts, unlike Vixie cron)
        day_of_month_restricted=parts[2] != "*",
        day_of_week_restricted=parts[4] != "*",
    )
