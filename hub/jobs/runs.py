"""Scheduled runs in the broker process: starting and finishing runs for the scheduler, the page's run requests and
pause/delete, and the grant for a run's own hub token. The I/O around the pure rules of ``scheduling.py``: the job
store, and the hub's API with the broker's service token (its role holds ``tokens``: it creates and deletes run
tokens; JupyterHub 5.5 gives a token only scopes its owner holds, and people hold ``JOB_SCOPE!user``).

Starting a run, in order: the job exists and is not paused; the start is due (a tick of its schedule, recent, not
started before) or is a waiting "Run now" request of this job (used once); the owner is not revoked; the broker makes
the owner's run token (``JOB_SCOPE!user=<owner>`` only, expiring after ``NotebookJobs.max_run_seconds``, note
``aws-job:<run id>``) and asks the hub who it is, which makes the hub re-check the owner's Entra ID membership; the
owner must still be eligible for the job's role. Any refusal is recorded as the run's reason, the token deleted.
"""

import json
import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from tornado.httpclient import HTTPClientError, HTTPRequest

from authenticator.auth_state import eligible_roles
from authenticator.policy_file import AccessPolicyFile

from ..broker import errors
from ..broker.contract import JOB_SCOPE
from ..broker.errors import Refusal
from ..broker.grants import JOB, decide_grant_for, token_kind
from ..broker.minting import Grant
from ..broker.service import HubClient, token_key
from . import scheduling
from .scheduling import FinishRequest, StartRequest
from .settings import NotebookJobs
from .store import FAILED, Job, JobStore, Run, utc_now
from .validation import Invalid

log = logging.getLogger("aws_broker.jobs")
audit = logging.getLogger("aws_broker.audit")

# The note of a run's hub token (the hub's token page shows it).
JOB_NOTE_PREFIX = "aws-job:"


class HubTokens:
    """The hub API calls for run tokens, made with the broker's own service token."""

    def __init__(self, hub: HubClient):
        self.hub = hub

    def _request(self, method: str, path: str, body: dict | None = None) -> HTTPRequest:
        return HTTPRequest(
            f"{self.hub.api_url}{path}",
            method=method,
            headers={"Authorization": f"token {self.hub.service_token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            connect_timeout=self.hub.timeout,
            request_timeout=self.hub.timeout,
        )

    async def create(self, owner: str, scopes: list[str], expires_in: int, note: str) -> tuple[str, str]:
        """A new token of ``owner``: (the token, its id)."""
        path = f"/users/{quote(owner, safe='')}/tokens"
        body = {"scopes": scopes, "expires_in": expires_in, "note": note}
        try:
            response = await self.hub.http.fetch(self._request("POST", path, body))
        except HTTPClientError as e:
            if e.code == 404:
                raise scheduling.owner_not_allowed(owner) from None
            if e.code in (400, 403):
                # The hub's configuration: the broker's role lacks `tokens`, or people lack JOB_SCOPE!user.
                log.error("The hub refused to make %s's run token: %s", owner, e.code)
                raise Refusal(
                    502,
                    errors.HUB_UNAVAILABLE,
                    f"The hub refused to make {owner}'s run token ({e.code}): an administrator must check that the "
                    f"broker's role holds 'tokens' and that people hold '{JOB_SCOPE}!user' (hub/config).",
                ) from None
            raise self.hub._unavailable(e) from None
        except OSError as e:
            raise self.hub._unavailable(e) from None
        model = json.loads(response.body)
        return model["token"], model["id"]

    async def delete(self, owner: str, token_id: str, run_id: str) -> None:
        """Delete a run's token at once (one already gone is fine). The hub reuses a deleted token's id, so the
        token is deleted only while its note still names the run. Failing that, it still expires, and the broker
        gives it nothing: its run is closed in the store."""
        path = f"/users/{quote(owner, safe='')}/tokens/{quote(token_id, safe='')}"
        try:
            model = json.loads((await self.hub.http.fetch(self._request("GET", path))).body)
            if model.get("note") != f"{JOB_NOTE_PREFIX}{run_id}":
                return  # expired and gone; the id now names another token
            await self.hub.http.fetch(self._request("DELETE", path))
        except HTTPClientError as e:
            if e.code != 404:
                log.error("Could not delete %s's run token %s: %s", owner, token_id, e.code)
        except OSError as e:
            log.error("Could not delete %s's run token %s: %s", owner, token_id, type(e).__name__)


class JobRuns:
    """The broker process's one object for jobs: the store, the hub, the settings. The pages use it (through
    ``broker.jobs``) for what needs more than the store: "Run now", "Run again exactly", pause, resume, delete."""

    def __init__(
        self,
        store: JobStore,
        hub: HubClient,
        policy_file: AccessPolicyFile,
        settings: NotebookJobs,
        *,
        clock: Callable[[], datetime] = utc_now,
        is_revoked: Callable[[str], bool] = lambda owner: False,
    ):
        self.store, self.hub, self.policy_file, self.settings = store, hub, policy_file, settings
        self.tokens = HubTokens(hub)
        self.clock = clock
        # Whether an administrator revoked the person's access (the revocation store plugs in here).
        self.is_revoked = is_revoked

    # ---- the scheduler's API

    def scheduler_jobs(self) -> list[dict]:
        """Every job as the scheduler sees it: no parameters, no notebook, no role; a paused job has no schedule."""
        return [
            {
                "id": job.id,
                "owner": job.owner,
                "name": job.name,
                "schedule": None if job.paused else job.schedule,
                "paused": job.paused,
            }
            for job in self.store.jobs()
        ]

    async def start(self, request: StartRequest) -> dict:
        job = self.store.job(request.job_id)
        if job is None:
            raise scheduling.job_not_found(request.job_id)
        if job.paused:
            raise self._refused(job, request, scheduling.paused(job))
        if request.request_id is not None:
            run = self.store.claim_request(job.id, request.request_id, request.airflow_run_id)
            if run is None:
                raise self._refused(job, request, scheduling.no_such_request(job, request.request_id))
        else:
            earlier = scheduling.before_creation(job, request.logical_date)
            if earlier:
                raise Refusal(409, scheduling.RUN_NOT_DUE, earlier)  # no run of this job: not recorded
            reason = scheduling.not_due(job, request.logical_date, self.clock(), self.settings.max_start_delay_seconds)
            if reason:
                raise self._refused(job, request, Refusal(409, scheduling.RUN_NOT_DUE, reason))
            run = self.store.claim_tick(job.id, request.airflow_run_id, request.logical_date)
            if run is None:
                raise self._refused(job, request, scheduling.already_started(job, request.logical_date))
        try:
            return await self._issue(job, run)
        except Refusal as refusal:
            refusal.user = job.owner
            if refusal.status >= 500:  # undecided (the hub did not answer): the scheduler may retry
                self.store.release_start(run.id)
            else:
                self.store.refuse_start(run.id, refusal.message)
                audit.warning(
                    "job-run refused run=%s job=%s user=%s reason=%s", run.id, job.id, job.owner, refusal.reason
                )
            raise
        except Exception:
            self.store.release_start(run.id)
            raise

    def _refused(self, job: Job, request: StartRequest, refusal: Refusal) -> Refusal:
        """Record a start refused before it held anything, so that the page says why; the refusal to raise."""
        run = self.store.record_refused(
            job.id, airflow_run_id=request.airflow_run_id, logical_date=request.logical_date, reason=refusal.message
        )
        audit.warning("job-run refused run=%s job=%s user=%s reason=%s", run.id, job.id, job.owner, refusal.reason)
        refusal.user = job.owner
        return refusal

    async def _issue(self, job: Job, run: Run) -> dict:
        if self.is_revoked(job.owner):
            raise scheduling.owner_revoked(job.owner)
        token, token_id = await self.tokens.create(
            job.owner,
            [f"{JOB_SCOPE}!user={job.owner}"],
            self.settings.max_run_seconds,
            f"{JOB_NOTE_PREFIX}{run.id}",
        )
        try:
            # Asking the hub who the new token is makes the hub re-check the owner's membership (refresh_user).
            try:
                whoami = await self.hub.whoami(token)
            except Refusal as refusal:
                if refusal.status == 403:
                    raise scheduling.owner_not_allowed(job.owner) from None
                raise
            if token_kind(whoami) != JOB or whoami.get("name") != job.owner or whoami.get("token_id") != token_id:
                raise RuntimeError(
                    f"the hub describes {job.owner}'s new run token {token_id} as another: {whoami.get('kind')} "
                    f"{whoami.get('name')}, token {whoami.get('token_id')}, scopes {whoami.get('scopes')}"
                )
            grant = await self._grant(job)
            parameters = run.parameters if run.parameters is not None else job.parameters
            started = self.store.started(
                run.id,
                token_id=token_id,
                token_hash=token_key(token),
                notebook_version=run.notebook_version,
                parameters=parameters,
            )
            if started is None:  # paused or deleted while the hub was asked
                raise scheduling.paused(job)
        except BaseException:
            await self.tokens.delete(job.owner, token_id, run.id)
            raise
        audit.info(
            "job-run started run=%s job=%s user=%s access_group=%s session=%s token_id=%s",
            run.id,
            job.id,
            job.owner,
            job.access_group,
            grant.session_name,
            token_id,
        )
        deployment = self.policy_file.policy.deployment
        return scheduling.start_answer(
            run=started,
            token=token,
            job=job,
            session_name=grant.session_name,
            place=scheduling.run_place(deployment, job, run.id),
            broker_url=self.settings.broker_url,
            region=deployment.aws_region,
            s3_endpoint_url=self.settings.aws_endpoint_url,
        )

    async def _grant(self, job: Job) -> Grant:
        """The owner's grant for the job's role, from the hub's model as its latest membership check left it."""
        user_model = await self.hub.user(job.owner)
        if user_model is None:
            raise scheduling.owner_not_allowed(job.owner)
        not_eligible = scheduling.not_eligible_text(job)
        if not eligible_roles(user_model.get("auth_state")):
            raise scheduling.no_roles(job)
        return decide_grant_for(
            user_model,
            self.policy_file.policy,
            job.access_group,
            not_eligible=not_eligible,
            session_suffix=f"job-{job.id}",
            extra_tags=((scheduling.JOB_TAG, job.id),),
        )

    async def finish(self, run_id: str, request: FinishRequest) -> Run:
        """The scheduler says how a run ended: recorded, and its token deleted at once."""
        before = self.store.finish(
            run_id, state=request.state, reason=request.reason, notebook_version=request.notebook_version
        )
        if before is None:
            run = self.store.run(run_id)
            if run is None:
                raise Refusal(404, scheduling.RUN_NOT_FOUND, f"There is no run {run_id!r}.")
            raise Refusal(
                409,
                scheduling.RUN_NOT_OPEN,
                f"The run {run_id} is not running (it is {run.state}): it finished before, or was closed when its "
                "job was paused or deleted.",
            )
        job = self.store.job(before.job_id)
        if before.token_id and job is not None:
            await self.tokens.delete(job.owner, before.token_id, run_id)
        audit.info("job-run finished run=%s job=%s state=%s", run_id, before.job_id, request.state)
        return self.store.run(run_id)

    # ---- a run's own token asking for credentials (the broker's GET v1/credentials)

    async def grant_for_token(self, whoami: dict, token: str) -> Grant:
        """The grant for a job token (``grants.token_kind``): only while its run is open."""
        owner = whoami["name"]
        run = self.store.open_run_for_token(token_key(token))
        job = self.store.job(run.job_id) if run is not None else None
        if run is None or job is None or job.owner != owner:
            raise self.refusal_for_ended_token(token) or scheduling.job_token_refusal(
                None, None, owner, self.settings.max_run_seconds
            )
        if scheduling.run_expired(run, self.clock(), self.settings.max_run_seconds):
            await self._close(job, [run], f"The run took longer than {self.settings.max_run_seconds} seconds.")
            raise scheduling.job_token_refusal(run, job, owner, self.settings.max_run_seconds)
        if self.is_revoked(owner):
            raise scheduling.owner_revoked(owner)
        return await self._grant(job)

    def refusal_for_ended_token(self, token: str) -> Refusal | None:
        """Why a run's token gets nothing once its run has ended (the broker deletes it from the hub then); None
        for a token no run had."""
        last = self.store.last_run_for_token(token_key(token))
        if last is None:
            return None
        job = self.store.job(last.job_id)
        return scheduling.job_token_refusal(last, job, job.owner if job else "", self.settings.max_run_seconds)

    # ---- the pages

    def request_run(self, job: Job, requested_by: str) -> Run:
        """ "Run now": a queued run whose request id the page gives the scheduler (Airflow's ``conf``)."""
        if job.paused:
            raise Invalid("job", f"The job {job.name!r} is paused: resume it to run it.")
        return self.store.request_run(job.id, requested_by=requested_by)

    def run_again_exactly(self, run: Run, requested_by: str) -> Run:
        """ "Run again exactly": a queued run with the notebook version and the parameters ``run`` used."""
        job = self.store.job(run.job_id)
        if job is None:
            raise Invalid("job", "This run's job was deleted.")
        if job.paused:
            raise Invalid("job", f"The job {job.name!r} is paused: resume it to run it.")
        if run.started_at is None or run.parameters is None:
            raise Invalid("run", "This run never started, so there is nothing to repeat exactly: use Run now.")
        return self.store.request_run(
            job.id, requested_by=requested_by, notebook_version=run.notebook_version, parameters=run.parameters
        )

    async def pause(self, job: Job, by: str) -> None:
        """Pause a job: its open runs and waiting requests end now, their tokens deleted at once."""
        closed = self.store.set_paused(job.id, True, f"The job was paused by {by}.")
        await self._delete_tokens(job, closed)
        audit.info("job paused job=%s user=%s by=%s runs_closed=%d", job.id, job.owner, by, len(closed))

    def resume(self, job: Job, by: str) -> None:
        self.store.set_paused(job.id, False, "")
        audit.info("job resumed job=%s user=%s by=%s", job.id, job.owner, by)

    async def delete(self, job: Job, by: str) -> None:
        """Delete a job; its open runs' tokens are deleted at once."""
        closed = self.store.delete_job(job.id, f"The job was deleted by {by}.")
        await self._delete_tokens(job, closed)
        audit.info("job deleted job=%s user=%s by=%s runs_closed=%d", job.id, job.owner, by, len(closed))

    async def close_runs_of(self, owner: str, reason: str) -> int:
        """End every open run and waiting request of one person's jobs (their access was revoked); how many."""
        closed = self.store.close_runs_of(owner, reason)
        for run in closed:
            if run.token_id:
                await self.tokens.delete(owner, run.token_id, run.id)
        return len(closed)

    async def _close(self, job: Job, runs: list[Run], reason: str) -> None:
        for run in runs:
            self.store.finish(run.id, state=FAILED, reason=reason, notebook_version=None)
        await self._delete_tokens(job, runs)

    async def _delete_tokens(self, job: Job, runs: list[Run]) -> None:
        for run in runs:
            if run.token_id:
                await self.tokens.delete(job.owner, run.token_id, run.id)
