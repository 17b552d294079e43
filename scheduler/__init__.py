"""Scheduled notebook runs on Apache Airflow: the DAGs, the run wrapper and the local launcher (see README.md)."""
