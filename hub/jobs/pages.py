"""The "Scheduled runs" page, served by the broker at ``<service prefix>jobs`` behind the hub's OAuth.

A signed-in person lists their jobs (name, notebook, schedule in words and cron, AWS role, paused, next run, last
run), creates and edits them (a notebook from their S3 home, a schedule preset or cron, one of their roles, papermill
parameters), deletes (after a confirmation), pauses, resumes and runs them now, and sees each job's runs: state,
start, duration, the reason of a failure, links to the executed notebook and its log in their JupyterLab, and "Run
again exactly" on a finished run.

Who may do what (the handlers decide, whatever a form says):
- a person sees and acts only on their own jobs; another person's job is "not found", as one that does not exist;
- a hub admin (as the access page decides: a member of an access group marked ``hub_admin``) also sees everyone's
  jobs with their owner and may pause and resume them; editing, running and deleting stay the owner's (403).

Every form is a POST carrying JupyterHub's XSRF token (the OAuth mixin refuses a POST without it: no visitor, 403).
A bad value shows the validation's message above the form, with what was typed kept, and nothing is stored; the
notebook must exist in the person's home, checked with their own credentials (``home_notebooks.py``).

- pure: :func:`schedule_in_words`, :func:`schedule_choice`, :func:`job_view`, :func:`run_view`, the renderers;
- I/O: the handlers, the job store and ``broker.jobs`` (``runs.py``), Airflow's API (``airflow_api.py``).
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from tornado import web

from authenticator.access_policy import AccessPolicy
from authenticator.auth_state import EligibleRole, eligible_roles

from ..admin_role import is_hub_admin
from ..broker import errors
from ..broker.access_page import TEMPLATES as BROKER_TEMPLATES
from ..broker.access_page import HubPageHandler, when
from ..broker.contract import JOBS_PAGE_PATH
from ..broker.errors import Refusal
from . import validation
from .airflow_api import AirflowUnavailable
from .home_notebooks import HomeNotebooks, NotebookCheckFailed, home_of
from .store import FAILED, FINAL_STATES, QUEUED, RUNNING, SUCCESS, Job, NameTaken, Run

TEMPLATES = Path(__file__).resolve().parent / "templates"
_jinja = Environment(
    loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), FileSystemLoader(str(BROKER_TEMPLATES))]),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
)

SCHEDULE_KINDS = (("hourly", "Every hour"), ("daily", "Every day"), ("weekly", "Every week"), ("cron", "Cron"))
# The form lists the week from Monday; cron counts from Sunday (validation.WEEKDAYS).
WEEKDAY_CHOICES = tuple((day, day.title()) for day in (*validation.WEEKDAYS[1:], validation.WEEKDAYS[0]))
RUN_STATES = {
    QUEUED: ("waiting to start", "text-bg-secondary"),
    RUNNING: ("running", "text-bg-info"),
    SUCCESS: ("succeeded", "text-bg-success"),
    FAILED: ("failed", "text-bg-danger"),
}
# What the page says after an action (the redirect carries the code, never text).
NOTICES = {
    "created": "The job is scheduled.",
    "saved": "The job is saved.",
    "paused": "The job is paused: no run starts until it is resumed.",
    "resumed": "The job is resumed: it runs on its schedule again.",
    "requested": "Run requested: Airflow starts it in a few seconds. Reload this page to follow it.",
    "deleted": "The job is deleted.",
}
# Where a run's files are, relative to the owner's home (``scheduler/run_notebook.py`` writes them there).
RUN_OUTPUT = "output.ipynb"
RUN_LOG = "run.log"

XSRF_REFUSED = (
    "This form was not accepted: it did not come from the scheduled-runs page, or your sign-in ended. Open the "
    "page again and repeat what you did."
)


def not_found(job_id: str) -> Refusal:
    # The same answer for a job that does not exist and for someone else's: nobody learns which jobs others have.
    return Refusal(404, "job-not-found", f"There is no job {job_id!r} among your scheduled runs.")


def owner_only(job: Job) -> Refusal:
    return Refusal(
        403,
        "not-the-owner",
        f"Only {job.owner} may edit, run or delete the job {job.name!r}. Hub admins may pause and resume anyone's "
        "job, nothing more.",
    )


# ---- pure: what the page shows -------------------------------------------------------------------------------------


def schedule_in_words(cron_text: str) -> str:
    """``0 * * * *`` -> ``Every hour``; ``30 6 * * *`` -> ``Every day at 06:30 UTC``; ``0 7 * * 1`` -> ``Every
    Monday at 07:00 UTC``; anything else: ``Custom schedule`` (the page shows the cron beside it)."""
    parts = cron_text.split()
    if len(parts) == 5:
        minute, hour, day_of_month, month, day_of_week = parts
        if minute.isdigit() and day_of_month == month == "*":
            if hour == "*" and day_of_week == "*":
                return "Every hour" if minute == "0" else f"Every hour at {int(minute)} minutes past"
            if hour.isdigit():
                at = f"{int(hour):02d}:{int(minute):02d} UTC"
                if day_of_week == "*":
                    return f"Every day at {at}"
                if day_of_week.isdigit():
                    return f"Every {validation.WEEKDAYS[int(day_of_week) % 7].title()} at {at}"
    return "Custom schedule"


def schedule_choice(cron_text: str) -> dict:
    """The form's schedule fields showing a stored schedule: the preset it is, else the cron itself."""
    parts = cron_text.split()
    choice = {"schedule": "cron", "time": "", "day": "monday", "cron": cron_text}
    if parts == ["0", "*", "*", "*", "*"]:
        return {**choice, "schedule": "hourly", "cron": ""}
    if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[2] == parts[3] == "*":
        time = f"{int(parts[1]):02d}:{int(parts[0]):02d}"
        if parts[4] == "*":
            return {**choice, "schedule": "daily", "time": time, "cron": ""}
        if parts[4].isdigit() and int(parts[4]) <= 7:
            day = validation.WEEKDAYS[int(parts[4]) % 7]
            return {**choice, "schedule": "weekly", "time": time, "day": day, "cron": ""}
    return choice


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 4 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _when(moment: datetime | None, now: datetime) -> dict | None:
    return None if moment is None else when(moment.timestamp(), now.timestamp())


def role_name(policy: AccessPolicy, access_group: str) -> str:
    group = policy.group(access_group)
    return group.display_name if group else access_group


def run_view(run: Run, job: Job, now: datetime, lab_tree: str | None) -> dict:
    """One run as the page shows it; ``lab_tree`` is the owner's JupyterLab file browser URL (None when the viewer
    is not the owner: no links, no "Run again exactly")."""
    state_text, badge = RUN_STATES[run.state]
    if run.requested_by:
        trigger = f"asked for by {run.requested_by}"
    elif run.logical_date:
        trigger = f"scheduled for {run.logical_date.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    else:
        trigger = "scheduled"
    if run.duration_seconds is not None:
        duration = duration_text(run.duration_seconds)
    elif run.state == RUNNING and run.started_at:
        duration = f"{duration_text((now - run.started_at).total_seconds())} so far"
    else:
        duration = None
    finished_after_start = run.state in FINAL_STATES and run.started_at is not None
    folder = f"runs/{job.id}/{run.id}/"
    return {
        "id": run.id,
        "state": run.state,
        "state_text": state_text,
        "badge": badge,
        "trigger": trigger,
        "reason": run.reason,
        "requested": _when(run.requested_at, now),
        "started": _when(run.started_at, now),
        "duration": duration,
        "notebook_version": run.notebook_version,
        "output_url": f"{lab_tree}{folder}{RUN_OUTPUT}" if lab_tree and finished_after_start else None,
        "log_url": f"{lab_tree}{folder}{RUN_LOG}" if lab_tree and finished_after_start else None,
        "can_run_again": bool(lab_tree) and finished_after_start and run.parameters is not None,
    }


def job_view(job: Job, policy: AccessPolicy, now: datetime, viewer: str, jobs_url: str) -> dict:
    next_run = None if job.paused else validation.next_run(job.schedule, now)
    return {
        "id": job.id,
        "name": job.name,
        "owner": job.owner,
        "own": job.owner == viewer,
        "notebook": job.notebook_key,
        "schedule_words": schedule_in_words(job.schedule),
        "cron": job.schedule,
        "role": role_name(policy, job.access_group),
        "paused": job.paused,
        "next_run": _when(next_run, now),
        "parameters_text": json.dumps(job.parameters, ensure_ascii=False) if job.parameters else "none",
        "url": f"{jobs_url}/{job.id}",
    }


def lab_tree_url(base_url: str, owner: str) -> str:
    """The owner's JupyterLab file browser, at the root of their home (``base_url`` is the hub's, e.g. ``/``)."""
    return f"{base_url}user/{quote(owner, safe='')}/lab/tree/"


def form_values(arguments: dict[str, str]) -> dict:
    """What the form holds (as typed, shown again when refused)."""
    names = ("name", "notebook", "schedule", "time", "day", "cron", "access_group", "parameters")
    return {name: arguments.get(name, "") for name in names}


def job_values(job: Job) -> dict:
    """The form holding a stored job."""
    return {
        "name": job.name,
        "notebook": job.notebook_key,
        **schedule_choice(job.schedule),
        "access_group": job.access_group,
        "parameters": json.dumps(job.parameters, ensure_ascii=False, indent=1) if job.parameters else "",
    }


def validated_job(values: dict, eligible: list[EligibleRole], home_prefix: str) -> dict:
    """The store's fields from the form's values, in the form's order; :class:`validation.Invalid` otherwise."""
    return {
        "name": validation.job_name(values["name"]),
        "notebook_key": validation.notebook_key(values["notebook"], home_prefix),
        "schedule": validation.schedule(
            values["schedule"], cron_text=values["cron"], time=values["time"], day=values["day"]
        ),
        "access_group": validation.access_group(values["access_group"], eligible),
        "parameters": validation.parameters_from_text(values["parameters"]),
    }


# ---- pure: HTML -----------------------------------------------------------------------------------------------------


def render(template: str, links: dict, **values) -> str:
    return _jinja.get_template(template).render(links=links, **values)


# ---- I/O: the handlers ----------------------------------------------------------------------------------------------


class JobsPageHandler(HubPageHandler):
    """What every scheduled-runs handler shares: who is asking, whose job it is, how the page answers."""

    def links(self) -> dict:
        return {**super().links(), "active": "jobs"}

    def message(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.finish(render("message.html", self.links(), title=title, message=text, status=status))

    def page(self, template: str, status: int = 200, **values) -> None:
        self.set_status(status)
        self.finish(render(template, self.links(), xsrf=self.xsrf_form_html(), **values))

    @property
    def broker(self):
        return self.settings["broker"]

    @property
    def jobs_url(self) -> str:
        return f"{self.hub_auth.base_url}{JOBS_PAGE_PATH}"

    def now(self) -> datetime:
        return self.broker.jobs.clock()

    async def visitor(self) -> tuple[dict, bool]:
        """The visitor's hub model (with ``auth_state``) and whether they are a hub admin."""
        visitor = self.current_user
        if visitor.get("kind", "user") != "user":
            raise Refusal(403, errors.NOT_A_PERSON, "This page is for people: sign in to the hub.")
        model = await self.broker.hub.user(visitor["name"])
        if model is None:
            raise errors.account_gone()
        return model, is_hub_admin(model, self.broker.policy_file.policy)

    def job(self, job_id: str, viewer: str, admin: bool, *, owner_only_action: bool) -> Job:
        """The job, if the viewer may see it (the owner; an admin) and, for ``owner_only_action``, act on it."""
        job = self.broker.jobs.store.job(job_id)
        if job is None or (job.owner != viewer and not admin):
            raise not_found(job_id)
        if owner_only_action and job.owner != viewer:
            raise owner_only(job)
        return job

    @property
    def hub_base_url(self) -> str:
        """The hub's base URL (``/`` unless the hub is under a path), where people's servers are."""
        return self.hub_auth.hub_prefix.removesuffix("hub/")

    def show(self, job: Job, viewer: str, status: int = 200, notice: str | None = None, problem: str | None = None):
        """The job's page: what it is, the controls the viewer may use, its runs."""
        now = self.now()
        lab_tree = lab_tree_url(self.hub_base_url, job.owner) if job.owner == viewer else None
        self.page(
            "job.html",
            status,
            job=job_view(job, self.broker.policy_file.policy, now, viewer, self.jobs_url),
            runs=[run_view(run, job, now, lab_tree) for run in self.broker.jobs.store.runs(job.id)],
            notice=notice,
            problem=problem,
        )

    def done(self, url: str, notice: str) -> None:
        self.redirect(f"{url}?done={notice}")

    def notice(self) -> str | None:
        return NOTICES.get(self.get_query_argument("done", ""))

    async def post(self, *args):
        # A POST whose XSRF token is missing or stale leaves the hub's OAuth mixin without a visitor.
        if self.current_user is None:
            return self.message(403, "Not accepted", XSRF_REFUSED)
        await self.act(*args)

    async def act(self, *args):
        raise web.HTTPError(405)

    def write_error(self, status_code, **kwargs):
        refusal = kwargs.get("exc_info", (None, None))[1]
        if isinstance(refusal, Refusal) and refusal.reason in ("job-not-found", "not-the-owner", "run-not-found"):
            title = "Not yours to change" if refusal.status == 403 else "No such job"
            return self.message(refusal.status, title, refusal.message)
        super().write_error(status_code, **kwargs)


class JobsListHandler(JobsPageHandler):
    """``GET jobs``: the visitor's jobs; for hub admins also everyone else's, with their owner."""

    @web.authenticated
    async def get(self):
        model, admin = await self.visitor()
        store, policy, now, name = self.broker.jobs.store, self.broker.policy_file.policy, self.now(), model["name"]

        def row(job: Job) -> dict:
            last = store.runs(job.id, limit=1)
            lab_tree = lab_tree_url(self.hub_base_url, job.owner) if job.owner == name else None
            return {
                **job_view(job, policy, now, name, self.jobs_url),
                "last_run": run_view(last[0], job, now, lab_tree) if last else None,
            }

        view = {
            "own_jobs": [row(job) for job in store.jobs(owner=name)],
            "others_jobs": [row(job) for job in store.jobs() if job.owner != name] if admin else [],
            "viewer_is_admin": admin,
            "notice": self.notice(),
        }
        self.page("jobs.html", view=view)


class JobHandler(JobsPageHandler):
    """``GET jobs/<id>``: one job and its runs."""

    @web.authenticated
    async def get(self, job_id: str):
        model, admin = await self.visitor()
        job = self.job(job_id, model["name"], admin, owner_only_action=False)
        self.show(job, model["name"], notice=self.notice())


class JobFormHandler(JobsPageHandler):
    """``GET|POST jobs/new`` and ``GET|POST jobs/<id>/edit`` (the owner only)."""

    @web.authenticated
    async def get(self, job_id: str | None = None):
        model, admin = await self.visitor()
        if job_id is None:
            values = form_values({"notebook": self.get_query_argument("notebook", ""), "schedule": "daily"})
            values["time"] = "06:00"
            job = None
        else:
            job = self.job(job_id, model["name"], admin, owner_only_action=True)
            values = job_values(job)
        await self.show_form(model, job, values)

    async def act(self, job_id: str | None = None):
        model, admin = await self.visitor()
        job = None if job_id is None else self.job(job_id, model["name"], admin, owner_only_action=True)
        values = form_values({name: self.get_body_argument(name, "") for name in form_values({})})
        eligible = eligible_roles(model.get("auth_state"))
        try:
            fields = validated_job(values, eligible, home_of(self.broker.policy_file.policy, model["name"]).prefix)
            home = HomeNotebooks(self.broker, model, fields["access_group"])  # the check uses the job's own role
            if not await home.exists(fields["notebook_key"]):
                raise validation.Invalid(
                    "notebook",
                    f"There is no notebook {fields['notebook_key']!r} in your home ({home.home.url()}): give its "
                    "path as JupyterLab's file browser shows it, and save the notebook there first.",
                )
            store = self.broker.jobs.store
            if job is None:
                job = store.create_job(owner=model["name"], **fields)
                notice = "created"
            else:
                job = store.update_job(job.id, **fields)
                if job is None:
                    raise not_found(job_id)
                notice = "saved"
        except validation.Invalid as e:
            return await self.show_form(model, job, values, e.message, status=400)
        except NotebookCheckFailed as e:
            return await self.show_form(model, job, values, e.message, status=503)
        except Refusal as refusal:  # the person's credentials for the check: no longer eligible, STS
            if refusal.reason in ("job-not-found", "not-the-owner"):
                raise
            return await self.show_form(model, job, values, refusal.message, status=refusal.status)
        except NameTaken:
            message = f"You already have a job named {values['name'].strip()!r}: choose another name, or edit that job."
            return await self.show_form(model, job, values, message, status=409)
        self.done(f"{self.jobs_url}/{job.id}", notice)

    async def show_form(self, model: dict, job: Job | None, values: dict, error: str | None = None, status=200):
        eligible = eligible_roles(model.get("auth_state"))
        home = HomeNotebooks(self.broker, model, (job.access_group if job else "") or _first_group(eligible))
        form = {
            "creating": job is None,
            "title": "Schedule a notebook" if job is None else f"Edit {job.name}",
            "action": f"{self.jobs_url}/new" if job is None else f"{self.jobs_url}/{job.id}/edit",
            "back_url": self.jobs_url if job is None else f"{self.jobs_url}/{job.id}",
            "fields": values,
            "error": error,
            "roles": [
                {"access_group": role["access_group"], "display_name": role.get("display_name") or role["access_group"]}
                for role in eligible
            ],
            "notebooks": await home.notebooks() if eligible else [],
            "schedule_kinds": SCHEDULE_KINDS,
            "weekdays": WEEKDAY_CHOICES,
        }
        self.page("job_form.html", status, form=form)


def _first_group(eligible: list[EligibleRole]) -> str:
    return eligible[0]["access_group"] if eligible else ""


class JobActionHandler(JobsPageHandler):
    """``POST jobs/<id>/(pause|resume|run)``: pause and resume for the owner and hub admins, run for the owner."""

    async def act(self, job_id: str, action: str):
        model, admin = await self.visitor()
        name, jobs = model["name"], self.broker.jobs
        job = self.job(job_id, name, admin, owner_only_action=action == "run")
        if action == "pause":
            await jobs.pause(job, by=name)
            return self.done(f"{self.jobs_url}/{job.id}", "paused")
        if action == "resume":
            jobs.resume(job, by=name)
            return self.done(f"{self.jobs_url}/{job.id}", "resumed")
        try:
            run = jobs.request_run(job, requested_by=name)
        except validation.Invalid as e:
            return self.show(job, name, status=409, problem=e.message)
        await self.trigger(job, run, name, f"Run now by {name}")

    async def trigger(self, job: Job, run: Run, name: str, note: str) -> None:
        """Ask Airflow to start the queued run; when it cannot be asked, the page says why and the run stays
        queued (it is sent again by :func:`resend_queued`)."""
        airflow = self.settings.get("airflow")
        try:
            if airflow is None:
                raise AirflowUnavailable(
                    "This hub has no Airflow to run jobs (AirflowApi.url is not set): your run request is kept, "
                    "nothing has started. Tell your administrator."
                )
            await airflow.trigger(job.id, run.request_id, note)
        except AirflowUnavailable as e:
            return self.show(job, name, status=503, problem=e.message)
        self.done(f"{self.jobs_url}/{job.id}", "requested")


class RunAgainHandler(JobActionHandler):
    """``POST jobs/<id>/runs/<run id>/again``: the owner repeats a finished run with its notebook version and
    parameters."""

    async def act(self, job_id: str, run_id: str):
        model, admin = await self.visitor()
        name = model["name"]
        job = self.job(job_id, name, admin, owner_only_action=True)
        run = self.broker.jobs.store.run(run_id)
        if run is None or run.job_id != job.id:
            raise Refusal(404, "run-not-found", f"The job {job.name!r} has no run {run_id!r}.")
        try:
            again = self.broker.jobs.run_again_exactly(run, requested_by=name)
        except validation.Invalid as e:
            return self.show(job, name, status=409, problem=e.message)
        await self.trigger(job, again, name, f"Run again exactly ({run.id}) by {name}")


class DeleteHandler(JobsPageHandler):
    """``GET jobs/<id>/delete`` asks for confirmation; ``POST`` deletes (the owner only)."""

    @web.authenticated
    async def get(self, job_id: str):
        model, admin = await self.visitor()
        job = self.job(job_id, model["name"], admin, owner_only_action=True)
        self.page(
            "confirm_delete.html",
            job=job_view(job, self.broker.policy_file.policy, self.now(), model["name"], self.jobs_url),
        )

    async def act(self, job_id: str):
        model, admin = await self.visitor()
        job = self.job(job_id, model["name"], admin, owner_only_action=True)
        await self.broker.jobs.delete(job, by=model["name"])
        self.done(self.jobs_url, "deleted")


def jobs_page_routes(prefix: str) -> list:
    """The page's URLs under the service prefix. Any job id is taken (the handler says when there is no such job)."""
    page = f"{prefix}{JOBS_PAGE_PATH}"
    return [
        (rf"{page}", JobsListHandler),
        (rf"{page}/new", JobFormHandler),
        (rf"{page}/([^/]+)", JobHandler),
        (rf"{page}/([^/]+)/edit", JobFormHandler),
        (rf"{page}/([^/]+)/delete", DeleteHandler),
        (rf"{page}/([^/]+)/(pause|resume|run)", JobActionHandler),
        (rf"{page}/([^/]+)/runs/([^/]+)/again", RunAgainHandler),
    ]
