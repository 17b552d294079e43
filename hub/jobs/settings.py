"""Scheduled notebook runs' settings: ``c.NotebookJobs.<trait>`` in the hub config (Helm: ``hub.config.NotebookJobs``).

The broker process serves jobs, so the hub config hands this section to it with the broker's own
(``hub/broker/settings.py``, ``CONFIG_SECTIONS``); a bad value stops the hub at start-up.
"""

from traitlets import Integer, TraitError, Unicode, validate
from traitlets.config import Configurable

# The job store's file name, beside the hub's own sqlite database.
DB_FILE_NAME = "notebook-jobs.sqlite"


class NotebookJobs(Configurable):
    """Scheduled notebook runs (the broker's job store and the scheduler's API). Configure as
    ``c.NotebookJobs.<trait>``."""

    db_path = Unicode(
        "",
        config=True,
        help=f"""
        The job store: a sqlite file holding people's jobs and their runs, written only by the credential broker.
        Default: {DB_FILE_NAME} beside the hub's sqlite database (on Kubernetes, the hub's persistent volume). Set
        it when the hub's database is not sqlite. Losing it loses the jobs; back it up with the hub's database.
        """,
    )

    max_start_delay_seconds = Integer(
        3600,
        config=True,
        help="""
        How late the scheduler may start a scheduled run, in seconds after its tick (its logical date). Default
        3600. A tick older than this is refused as not due, so that whoever holds the scheduler's token cannot
        replay old ticks; a run the owner asked for with "Run now" is not bound by it.
        """,
    )

    @validate("max_start_delay_seconds")
    def _valid_max_start_delay_seconds(self, proposal):
        if proposal.value < 60:
            raise TraitError(
                f"NotebookJobs.max_start_delay_seconds must be at least 60 (got {proposal.value!r}): the scheduler "
                "starts a run some seconds after its tick"
            )
        return proposal.value

    max_run_seconds = Integer(
        6 * 3600,
        config=True,
        help="""
        The longest a scheduled run may obtain credentials, in seconds: its hub token expires then, whatever the
        scheduler does. Default 21600 (6 hours). A run finishing earlier loses its token at once. Keep Airflow's
        task timeout at or below it.
        """,
    )

    @validate("max_run_seconds")
    def _valid_max_run_seconds(self, proposal):
        if proposal.value < 300:
            raise TraitError(
                f"NotebookJobs.max_run_seconds must be at least 300 (got {proposal.value!r}): a run's token must "
                "outlive its start"
            )
        return proposal.value

    broker_url = Unicode(
        "",
        config=True,
        help="""
        The credential broker's URL as scheduled runs reach it (ending in the service prefix), which the scheduler
        hands each run's credential helper. Default: what notebook servers get
        (`BrokeredAWSMixin.broker_url_for_servers`, else `.broker_url`); the hub config fills it in.
        """,
    )

    aws_endpoint_url = Unicode(
        "",
        config=True,
        help="""
        An AWS endpoint override for scheduled runs (the local stack's moto server). Default: what notebook servers
        get (`BrokeredAWSMixin.aws_endpoint_url`; empty for AWS itself); the hub config fills it in.
        """,
    )
