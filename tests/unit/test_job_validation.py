"""What a person may write into a job: cron schedules (as Airflow's croniter reads them), presets, notebook paths,
parameters, roles. Every refusal's exact message."""

import json
from datetime import UTC, datetime

import pytest

from hub.jobs import cron
from hub.jobs.validation import (
    Invalid,
    access_group,
    cron_schedule,
    is_tick,
    job_name,
    next_run,
    notebook_key,
    parameters,
    parameters_from_text,
    schedule,
)

pytestmark = pytest.mark.unit

HOME = "home/sam/"
ANALYST = {"access_group": "analysts", "display_name": "Analysts", "role_arn": "arn:aws:iam::123456789012:role/a"}
ENGINEER = {"access_group": "data-engineers", "display_name": "Data Engineers", "role_arn": "arn:aws:iam::1:role/d"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def refusal(function, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        function(*args, **kwargs)
    return caught.value.field, caught.value.message


# ---- cron ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment", "tick"),
    [
        ("* * * * *", "2026-11-29 07:31", True),
        ("*/15 * * * *", "2026-11-29 07:45", True),
        ("*/15 * * * *", "2026-11-29 07:50", False),
        ("30 6 * * 1-5", "2026-11-30 06:30", True),  # a Monday
        ("30 6 * * 1-5", "2026-11-29 06:30", False),  # a Sunday
        ("30 6 * * mon-fri", "2026-12-04 06:30", True),  # a Friday
        ("0 0 * * 7", "2026-11-29 00:00", True),  # 7 is Sunday too
        ("0 0 * * 0", "2026-11-29 00:00", True),
        ("0 12 1,15 * *", "2026-12-15 12:00", True),
        ("0 12 1,15 * *", "2026-12-14 12:00", False),
        ("0 9 * jan,jul *", "2027-07-01 09:00", True),
        ("0 9 * jan,jul *", "2027-06-01 09:00", False),
        ("5-10/5 * * * *", "2026-11-29 07:10", True),
        ("5-10/5 * * * *", "2026-11-29 07:06", False),
        # day of month and day of week both restricted: either matches (croniter, as Vixie cron)
        ("0 0 1 * 1", "2026-11-30 00:00", True),  # a Monday, not the 1st
        ("0 0 1 * 1", "2026-12-01 00:00", True),  # the 1st, a Tuesday
        ("0 0 1 * 1", "2026-12-02 00:00", False),
        # croniter counts "*/2" as a restriction (Vixie cron would not)
        ("0 0 */2 * 1", "2026-11-30 00:00", True),  # Monday the 30th: even day, but matches by weekday
        # a tick is a whole minute
        ("* * * * *", "2026-11-29 07:31:00.5", False),
    ],
)
def test_ticks(text, moment, tick):
    assert cron.parse(text).is_tick(at(moment)) is tick


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("30 6 * * 1-5", "2026-11-28 10:00", "2026-11-30 06:30"),  # Saturday -> Monday
        ("*/15 * * * *", "2026-11-29 07:45", "2026-11-29 08:00"),  # strictly after
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),
        ("0 * * * *", "2026-12-31 23:30", "2027-01-01 00:00"),
    ],
)
def test_next_tick(text, after, expected):
    assert next_run(text, at(after)) == at(expected)


def test_is_tick_of_a_stored_schedule():
    assert is_tick("0 7 * * *", at("2026-11-29 07:00"))
    assert not is_tick("0 7 * * *", at("2026-11-29 07:01"))


EXAMPLE = (
    "Write five fields, minute hour day-of-month month day-of-week, in UTC; for example '30 6 * * 1-5' runs at 06:30 "
    "UTC on weekdays."
)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 0"),
        ("* * * *", "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 4"),
        ("60 * * * *", "the minute field has 60, outside 0-59"),
        ("* 24 * * *", "the hour field has 24, outside 0-23"),
        ("* * 0 * *", "the day of month field has 0, outside 1-31"),
        ("* * * 13 *", "the month field has 13, outside 1-12"),
        ("* * * * 8", "the day of week field has 8, outside 0-7"),
        ("* * * foo *", "the month field has 'foo', which is not a number 1-12 or a name (jan, feb, mar, ...)"),
        ("*/0 * * * *", "the minute field has step '0': a step is a whole number from 1"),
        ("*/ * * * *", "the minute field has step '': a step is a whole number from 1"),
        ("10-5 * * * *", "the minute field has the range '10-5', which runs backwards"),
        ("1,,2 * * * *", "the minute field '1,,2' has an empty list item"),
        ("@daily", "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), this one has 1"),
    ],
)
def test_malformed_cron_is_refused_naming_the_field(text, detail):
    assert refusal(schedule, "cron", cron_text=text) == (
        "schedule",
        f"The schedule {text!r} is not valid cron: {detail}. {EXAMPLE}",
    )


def test_a_schedule_that_never_runs_is_refused():
    assert refusal(cron_schedule, "0 0 30 2 *") == (
        "schedule",
        "The schedule '0 0 30 2 *' never runs (it names a date that does not exist, such as 31 February): choose "
        "days that exist.",
    )


# ---- presets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("hourly", {}, "0 * * * *"),
        ("daily", {"time": "06:30"}, "30 6 * * *"),
        ("daily", {"time": "0:05"}, "5 0 * * *"),
        ("weekly", {"day": "Monday", "time": "23:59"}, "59 23 * * 1"),
        ("weekly", {"day": "sun", "time": "07:00"}, "0 7 * * 0"),
        ("cron", {"cron_text": "  */5   *  * * MON-fri "}, "*/5 * * * mon-fri"),
    ],
)
def test_presets_become_cron(kind, options, expected):
    assert schedule(kind, **options) == expected
    cron.parse(expected)  # and Airflow's parser reads it


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("monthly", {}, ("schedule", "Unknown schedule kind 'monthly': choose hourly, daily, weekly or cron.")),
        (
            "daily",
            {"time": "24:00"},
            ("time", "'24:00' is not a time of day: write HH:MM, 24-hour, in UTC, for example 06:30."),
        ),
        (
            "daily",
            {"time": "6.30"},
            ("time", "'6.30' is not a time of day: write HH:MM, 24-hour, in UTC, for example 06:30."),
        ),
        (
            "weekly",
            {"day": "funday", "time": "06:30"},
            ("day", "'funday' is not a day of the week: choose one of Monday to Sunday."),
        ),
    ],
)
def test_bad_presets_are_refused(kind, options, expected):
    assert refusal(schedule, kind, **options) == expected


# ---- names and notebooks ---------------------------------------------------------------------------------------


def test_job_names():
    assert job_name("  Daily sales  ") == "Daily sales"
    assert refusal(job_name, "   ") == ("name", 'Give the job a name, for example "Daily sales report".')
    assert refusal(job_name, "a\nb") == (
        "name",
        "The job name has a line break, tab or other control character: write it on one line.",
    )
    assert refusal(job_name, "x" * 81) == ("name", "The job name is 81 characters long: shorten it to at most 80.")


@pytest.mark.parametrize(
    ("path", "key"),
    [("reports/daily.ipynb", "reports/daily.ipynb"), ("/daily.ipynb", "daily.ipynb"), (" a b/c.ipynb ", "a b/c.ipynb")],
)
def test_notebook_paths(path, key):
    assert notebook_key(path, HOME) == key


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "",
            "Choose the notebook to run: its path in your home, as the file browser shows it, for example "
            "reports/daily.ipynb.",
        ),
        (
            "../ana/secret.ipynb",
            "The notebook path '../ana/secret.ipynb' has an empty, '.' or '..' folder: give the path inside your home "
            "as the file browser shows it, for example reports/daily.ipynb.",
        ),
        (
            "a/../../ana/x.ipynb",
            "The notebook path 'a/../../ana/x.ipynb' has an empty, '.' or '..' folder: give the path inside your "
            "home as the file browser shows it, for example reports/daily.ipynb.",
        ),
        (
            "a//x.ipynb",
            "The notebook path 'a//x.ipynb' has an empty, '.' or '..' folder: give the path inside your home as the "
            "file browser shows it, for example reports/daily.ipynb.",
        ),
        (
            "a\\x.ipynb",
            "The notebook path 'a\\\\x.ipynb' has a backslash or a control character: write folders with / as the "
            "file browser shows them.",
        ),
        ("report.py", "'report.py' is not a notebook: choose a file whose name ends in .ipynb."),
        ("reports/.ipynb/x", "'reports/.ipynb/x' is not a notebook: choose a file whose name ends in .ipynb."),
        (
            "x" * 1010 + ".ipynb",
            "The notebook's S3 key is 1025 bytes long with your home folder; S3 allows 1024: move the notebook to a "
            "shorter path.",
        ),
    ],
)
def test_bad_notebook_paths_are_refused(path, message):
    assert refusal(notebook_key, path, HOME) == ("notebook", message)


# ---- parameters ------------------------------------------------------------------------------------------------


def test_parameters_from_text():
    assert parameters_from_text("") == {}
    assert parameters_from_text('{"region": "eu", "days": 7, "rates": [0.5, null], "opts": {"a": true}}') == {
        "region": "eu",
        "days": 7,
        "rates": [0.5, None],
        "opts": {"a": True},
    }


OBJECT_EXAMPLE = 'write a JSON object, for example {"region": "eu-west-1", "days": 7}.'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("days=7", f"The parameters are not valid JSON (Expecting value at line 1, column 1): {OBJECT_EXAMPLE}"),
        (
            "{'days': 7}",
            "The parameters are not valid JSON (Expecting property name enclosed in double quotes at "
            f"line 1, column 2): {OBJECT_EXAMPLE}",
        ),
        ('{"x": NaN}', "The parameters contain NaN, which is not JSON: use a number or null instead."),
        ('{"x": -Infinity}', "The parameters contain -Infinity, which is not JSON: use a number or null instead."),
        (
            "[1, 2]",
            'The parameters must be a JSON object (names and values in { }), not a list: for example {"days": 7}.',
        ),
        (
            '"text"',
            'The parameters must be a JSON object (names and values in { }), not text: for example {"days": 7}.',
        ),
        (
            '{"2x": 1}',
            "The parameter name '2x' is not a Python variable name (papermill assigns each parameter to one): use "
            "letters, digits and _, not starting with a digit.",
        ),
        (
            '{"class": 1}',
            "The parameter name 'class' is not a Python variable name (papermill assigns each parameter to one): use "
            "letters, digits and _, not starting with a digit.",
        ),
        (
            json.dumps({"data": "x" * 16380}),
            "The parameters are 16392 bytes of JSON; at most 16384 are allowed: keep large inputs in a file in your "
            "home and pass its path.",
        ),
    ],
)
def test_bad_parameter_text_is_refused(text, message):
    assert refusal(parameters_from_text, text) == ("parameters", message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": float("nan")}, "The parameter 'x' is nan, which is not JSON: use a number or null instead."),
        ({"x": [1, float("inf")]}, "The parameter 'x'[1] is inf, which is not JSON: use a number or null instead."),
        (
            {"x": {1: "a"}},
            "The parameter 'x' has the key 1, which is not a string: JSON keys are text.",
        ),
        (
            {"when": datetime(2026, 1, 1)},
            "The parameter 'when' is a datetime, which is not JSON: use text, numbers, true/false, null, lists or "
            "objects.",
        ),
        (
            {"x": {"y": b"raw"}},
            "The parameter 'x'['y'] is a bytes, which is not JSON: use text, numbers, true/false, "
            "null, lists or objects.",
        ),
        (
            "days=7",
            'The parameters must be a JSON object (names and values in { }), not text: for example {"days": 7}.',
        ),
    ],
)
def test_values_json_cannot_carry_are_refused(value, message):
    assert refusal(parameters, value) == ("parameters", message)


# ---- roles -----------------------------------------------------------------------------------------------------


def test_a_one_role_person_is_not_asked():
    assert access_group("", [ANALYST]) == "analysts"
    assert access_group("data-engineers", [ANALYST, ENGINEER]) == "data-engineers"


@pytest.mark.parametrize(
    ("choice", "eligible", "message"),
    [
        (
            "",
            [ANALYST, ENGINEER],
            "Choose the AWS role the job runs with: one of Analysts (analysts), Data Engineers (data-engineers).",
        ),
        (
            "platform-admins",
            [ANALYST, ENGINEER],
            "You are not eligible for the role of access group 'platform-admins': choose one of Analysts (analysts), "
            "Data Engineers (data-engineers).",
        ),
        (
            "data-engineers",
            [ANALYST],
            "You are not eligible for the role of access group 'data-engineers': choose one of Analysts (analysts).",
        ),
        (
            "analysts",
            [],
            "You are not eligible for any AWS role, so no job of yours can run: ask to be added to an Entra ID group "
            "that grants one, then sign in again.",
        ),
    ],
)
def test_roles_not_eligible_are_refused(choice, eligible, message):
    assert refusal(access_group, choice, eligible) == ("access_group", message)
