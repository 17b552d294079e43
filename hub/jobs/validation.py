"""What a person may write into a job, checked before anything is stored: pure functions from the form's values to the
stored value, or :class:`Invalid` with a message saying what is wrong and how to fix it (the page shows it as is).

Schedules are five-field cron strings in UTC (``hub/jobs/cron.py``, as Airflow reads them) or presets turned into
one. Parameters are papermill's: a JSON object whose names become Python variables in the notebook.
"""

import json
import keyword
import math
from datetime import UTC, datetime

from authenticator.auth_state import EligibleRole

from . import cron

NAME_MAX = 80
# S3 object keys are at most 1,024 bytes (UTF-8), the home folder included.
# ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
S3_KEY_MAX_BYTES = 1024
NOTEBOOK_SUFFIX = ".ipynb"
# Parameters travel in every run's answer to the scheduler; large inputs belong in a file.
PARAMETERS_MAX_BYTES = 16384
PRESETS = ("hourly", "daily", "weekly", "cron")
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # cron's 0-6


class Invalid(ValueError):
    """A value a person entered, refused: ``field`` names the form field, ``message`` what is wrong and the fix."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(message)


def job_name(text: str) -> str:
    name = (text or "").strip()
    if not name:
        raise Invalid("name", 'Give the job a name, for example "Daily sales report".')
    if any(not character.isprintable() for character in name):
        raise Invalid("name", "The job name has a line break, tab or other control character: write it on one line.")
    if len(name) > NAME_MAX:
        raise Invalid("name", f"The job name is {len(name)} characters long: shorten it to at most {NAME_MAX}.")
    return name


def notebook_key(path: str, home_prefix: str) -> str:
    """The notebook's key relative to the person's home (``home_prefix``, e.g. ``home/sam/``), from its path as the
    file browser shows it (a leading ``/`` is allowed)."""
    key = (path or "").strip().lstrip("/")
    if not key:
        raise Invalid(
            "notebook",
            "Choose the notebook to run: its path in your home, as the file browser shows it, for example "
            "reports/daily.ipynb.",
        )
    if any(not character.isprintable() for character in key) or "\\" in key:
        raise Invalid(
            "notebook",
            f"The notebook path {key!r} has a backslash or a control character: write folders with / as the file "
            "browser shows them.",
        )
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise Invalid(
            "notebook",
            f"The notebook path {key!r} has an empty, '.' or '..' folder: give the path inside your home as the file "
            "browser shows it, for example reports/daily.ipynb.",
        )
    if not key.endswith(NOTEBOOK_SUFFIX) or key == NOTEBOOK_SUFFIX:
        raise Invalid("notebook", f"{key!r} is not a notebook: choose a file whose name ends in {NOTEBOOK_SUFFIX}.")
    length = len((home_prefix + key).encode())
    if length > S3_KEY_MAX_BYTES:
        raise Invalid(
            "notebook",
            f"The notebook's S3 key is {length} bytes long with your home folder; S3 allows {S3_KEY_MAX_BYTES}: "
            "move the notebook to a shorter path.",
        )
    return key


def _time_of_day(text: str) -> tuple[int, int]:
    hours, _, minutes = (text or "").strip().partition(":")
    if hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60:
        return int(hours), int(minutes)
    raise Invalid("time", f"{text!r} is not a time of day: write HH:MM, 24-hour, in UTC, for example 06:30.")


def _weekday(text: str) -> int:
    day = (text or "").strip().lower()
    for number, name in enumerate(WEEKDAYS):
        if day in (name, name[:3]):
            return number
    raise Invalid("day", f"{text!r} is not a day of the week: choose one of Monday to Sunday.")


def cron_schedule(text: str) -> cron.CronSchedule:
    """A parsed five-field cron schedule that has ticks, or :class:`Invalid`."""
    try:
        schedule = cron.parse(text or "")
    except cron.CronError as e:
        raise Invalid(
            "schedule",
            f"The schedule {text!r} is not valid cron: {e}. Write five fields, minute hour day-of-month month "
            "day-of-week, in UTC; for example '30 6 * * 1-5' runs at 06:30 UTC on weekdays.",
        ) from None
    if schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise Invalid(
            "schedule",
            f"The schedule {schedule.text!r} never runs (it names a date that does not exist, such as 31 February): "
            "choose days that exist.",
        )
    return schedule


def schedule(kind: str, *, cron_text: str = "", time: str = "", day: str = "") -> str:
    """The cron string of the page's schedule choice: a preset (``hourly``; ``daily`` at ``time``; ``weekly`` on
    ``day`` at ``time``) or ``cron`` with ``cron_text``. Times are UTC, as Airflow's schedules."""
    kind = (kind or "").strip().lower()
    if kind == "hourly":
        return "0 * * * *"
    if kind == "daily":
        hours, minutes = _time_of_day(time)
        return f"{minutes} {hours} * * *"
    if kind == "weekly":
        weekday = _weekday(day)
        hours, minutes = _time_of_day(time)
        return f"{minutes} {hours} * * {weekday}"
    if kind == "cron":
        return cron_schedule(cron_text).text
    raise Invalid("schedule", f"Unknown schedule kind {kind!r}: choose hourly, daily, weekly or cron.")


def is_tick(schedule_text: str, moment: datetime) -> bool:
    """Whether ``moment`` is one of the (stored, valid) schedule's ticks."""
    return cron.parse(schedule_text).is_tick(moment)


def next_run(schedule_text: str, after: datetime) -> datetime | None:
    """The (stored, valid) schedule's first tick after ``after``, for the page."""
    return cron.parse(schedule_text).next_after(after)


def _refuse_constant(name: str):
    raise Invalid("parameters", f"The parameters contain {name}, which is not JSON: use a number or null instead.")


def _check_json_value(where: str, value) -> None:
    """Refuse what JSON cannot carry exactly (papermill gives the notebook what the JSON says)."""
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("parameters", f"{where} is {value}, which is not JSON: use a number or null instead.")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_value(f"{where}[{index}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid("parameters", f"{where} has the key {key!r}, which is not a string: JSON keys are text.")
            _check_json_value(f"{where}[{key!r}]", item)
        return
    raise Invalid(
        "parameters",
        f"{where} is a {type(value).__name__}, which is not JSON: use text, numbers, true/false, null, lists or "
        "objects.",
    )


def parameters(value: dict) -> dict:
    """Papermill parameters given as a Python object (the page's "run again" and other callers): a JSON object whose
    names are Python variable names and whose values JSON carries exactly."""
    if not isinstance(value, dict):
        raise Invalid(
            "parameters",
            f"The parameters must be a JSON object (names and values in {{ }}), not {_json_kind(value)}: for "
            'example {"days": 7}.',
        )
    for name, item in value.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise Invalid(
                "parameters",
                f"The parameter name {name!r} is not a Python variable name (papermill assigns each parameter to "
                "one): use letters, digits and _, not starting with a digit.",
            )
        _check_json_value(f"The parameter {name!r}", item)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > PARAMETERS_MAX_BYTES:
        raise Invalid(
            "parameters",
            f"The parameters are {size} bytes of JSON; at most {PARAMETERS_MAX_BYTES} are allowed: keep large "
            "inputs in a file in your home and pass its path.",
        )
    return value


def parameters_from_text(text: str) -> dict:
    """Papermill parameters from the page's text field: empty means none."""
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise Invalid(
            "parameters",
            f"The parameters are not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}): write a JSON "
            'object, for example {"region": "eu-west-1", "days": 7}.',
        ) from None
    return parameters(value)


def _json_kind(value) -> str:
    kinds = {list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _role_names(eligible: list[EligibleRole]) -> str:
    names = (f"{role.get('display_name') or role['access_group']} ({role['access_group']})" for role in eligible)
    return ", ".join(names)


def access_group(choice: str, eligible: list[EligibleRole]) -> str:
    """The access group a job runs with: one of the person's eligible roles; a person with one role is not asked."""
    choice = (choice or "").strip()
    if not eligible:
        raise Invalid(
            "access_group",
            "You are not eligible for any AWS role, so no job of yours can run: ask to be added to an Entra ID group "
            "that grants one, then sign in again.",
        )
    if not choice:
        if len(eligible) == 1:
            return eligible[0]["access_group"]
        raise Invalid("access_group", f"Choose the AWS role the job runs with: one of {_role_names(eligible)}.")
    if choice not in {role["access_group"] for role in eligible}:
        raise Invalid(
            "access_group",
            f"You are not eligible for the role of access group {choice!r}: choose one of {_role_names(eligible)}.",
        )
    return choice
