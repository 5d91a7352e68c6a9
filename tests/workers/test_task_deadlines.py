"""Every Celery task has a deadline (issue 13): the default soft and hard limits, and
longer ones for imports; an import stopped by its deadline says so on its run."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from registry.models import ImportRun
from registry.rules.actors import Actor
from registry.services import imports
from registry.services.import_queue import import_queue, import_run_queued
from workers.tasks import anchor_audit_task, deliver_task, import_task, sweep_task

SAMPLES = Path(__file__).parents[1] / "samples"


def test_every_task_has_soft_and_hard_limits(settings):
    """The app's defaults (read by every worker through `config_from_object`), and an
    import's own, longer ones."""
    soft, hard = settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT
    assert 0 < soft < hard <= 600
    for task in (sweep_task, deliver_task, anchor_audit_task):
        assert task.soft_time_limit in (None, soft)  # None: the app's default applies
    assert soft < import_task.soft_time_limit < import_task.time_limit


@pytest.mark.django_db
def test_an_import_stopped_by_its_deadline_fails_its_run_saying_so(personas, settings, monkeypatch):
    run = import_queue(
        actor=Actor.for_user(personas.users.sam),
        chunks=[(SAMPLES / "k8s-serviceaccounts.json").read_bytes()],
        file_name="sa.json",
        source_format="k8s-serviceaccounts",
    )

    def interrupted(*args, **kwargs):
        raise SoftTimeLimitExceeded()  # what the worker raises at the soft limit

    monkeypatch.setattr(imports, "_import_rows", interrupted)
    with pytest.raises(SoftTimeLimitExceeded):
        import_run_queued(run_id=str(run.pk))
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert "The import stopped (SoftTimeLimitExceeded)" in run.errors[0]["errors"][0]
