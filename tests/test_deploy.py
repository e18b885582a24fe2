"""The nightly deployment, for real: ``infra/prefect.yaml`` deployed to a Prefect server and run by a process worker.

The end-to-end test starts ``prefect server start`` on 127.0.0.1 (its own
PREFECT_HOME), creates the process work pool, runs ``prefect deploy`` on the
repository's prefect.yaml, starts ``prefect worker start`` with the archive's
DANGAN_* settings in its environment, triggers runs as an operator would
(``prefect deployment run``) and checks the archive, the run records, the
retry policy, and that nothing is left running afterwards.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.settings import temporary_settings

from schemas.errors import DiskFull, IngestBusy, StorageAuthError, StorageError, WrongMasterKey
from tests.drills import check_exactly_once, drop_layout, ingest_env, processes_naming, wait_until
from tests.e2e import read_export, run_dangan
from tests.prefect_stack import REPO, PrefectStack, run_id_from

PREFECT_YAML = REPO / "infra" / "prefect.yaml"
DEPLOYMENT = "nightly-ingest/nightly-drop-folders"
POOL = "dangan-scans"


def _nightly_spec() -> dict:
    spec = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    (deployment,) = [d for d in spec["deployments"] if d["name"] == "nightly-drop-folders"]
    return dict(deployment)


def test_prefect_yaml_declares_the_nightly_deployment() -> None:
    from flows.nightly import RETRIES, nightly

    spec = _nightly_spec()
    path, _, name = spec["entrypoint"].partition(":")
    assert (REPO / path).is_file() and name == nightly.fn.__name__ == "nightly"
    assert spec["schedules"] == [{"cron": "30 1 * * *", "timezone": "Asia/Shanghai", "active": True}]
    assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert spec["work_pool"]["name"] == POOL
    assert set(spec["parameters"]) == set(inspect.signature(nightly.fn).parameters) == {"folders", "keep"}
    assert nightly.retries == RETRIES > 0


def test_prefect_yaml_declares_the_monthly_reconciliation() -> None:
    from flows.monthly import monthly_reconcile

    spec = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    (monthly,) = [d for d in spec["deployments"] if d["name"] == "monthly-reconcile"]
    path, _, name = monthly["entrypoint"].partition(":")
    assert (REPO / path).is_file() and name == monthly_reconcile.fn.__name__
    assert monthly["schedules"] == [{"cron": "0 3 1 * *", "timezone": "Asia/Shanghai", "active": True}]
    assert set(monthly["parameters"]) == set(inspect.signature(monthly_reconcile.fn).parameters)
    assert monthly["work_pool"]["name"] == POOL


def test_prefect_yaml_declares_the_retention_list() -> None:
    from flows.retention import retention_due

    spec = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    (due,) = [d for d in spec["deployments"] if d["name"] == "retention-due"]
    path, _, name = due["entrypoint"].partition(":")
    assert (REPO / path).is_file() and name == retention_due.fn.__name__
    assert due["schedules"] == [{"cron": "0 4 1 * *", "timezone": "Asia/Shanghai", "active": True}]
    assert set(due["parameters"]) == set(inspect.signature(retention_due.fn).parameters)
    assert due["work_pool"]["name"] == POOL


@pytest.mark.parametrize(("raised", "retryable"), [
    (IngestBusy("another ingest is running"), True),
    (StorageError("the object store is down"), True),
    (WrongMasterKey("not this archive's key"), False),
    (DiskFull("disk full"), False),
    (ValueError("a bug"), False),
])
def test_nightly_retries_only_what_time_may_mend(raised: Exception, retryable: bool, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.nightly

    def failing(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setenv("DANGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(flows.nightly, "_run", failing)
    with temporary_settings(updates={"api.url": "http://127.0.0.1:9/api"}), \
            pytest.raises(flows.nightly.NightlyFailed) as failed:
        flows.nightly.run_nightly([str(tmp_path)], keep=False, log=lambda line: None)
    assert failed.value.retryable is retryable


def test_nightly_outcomes_of_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.nightly
    from flows.context import RunControl
    from flows.summary import FileOutcome, IngestSummary

    def batch(outcome: str, halt: Exception | None = None) -> object:
        def run(folders: list[Path], *, settings: object, keep: bool, control: RunControl) -> IngestSummary:
            if halt is not None:
                control.halt(halt)  # type: ignore[arg-type]
            return IngestSummary.of([FileOutcome(path="a.png", name="a.png", outcome=outcome)])  # type: ignore[arg-type]
        return run

    def nightly(folders: list[str] | None) -> flows.nightly.NightlyFailed | None:
        try:
            with temporary_settings(updates={"api.url": "http://127.0.0.1:9/api"}):
                flows.nightly.run_nightly(folders, keep=False, log=lines.append)
        except flows.nightly.NightlyFailed as e:
            return e
        return None

    lines: list[str] = []
    monkeypatch.setenv("DANGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DANGAN_DROP_FOLDERS", str(tmp_path))
    monkeypatch.setattr(flows.nightly, "_run", batch("stored"))
    assert nightly(None) is None and "1 file(s): 1 stored" in lines[-1]
    missing = nightly([str(tmp_path), str(tmp_path / "unmounted")])
    assert missing is not None and missing.retryable and "unmounted" in missing.message
    monkeypatch.setattr(flows.nightly, "_run", batch("failed", StorageError("the object store is down")))
    down = nightly(None)
    assert down is not None and down.retryable and "object store is down" in down.message
    monkeypatch.setattr(flows.nightly, "_run", batch("failed", StorageAuthError("wrong S3 keys")))
    keys = nightly(None)
    assert keys is not None and not keys.retryable
    monkeypatch.delenv("DANGAN_DROP_FOLDERS")
    nothing = nightly(None)
    assert nothing is not None and not nothing.retryable and "DANGAN_DROP_FOLDERS" in nothing.message


def logged(stack: PrefectStack, run_id: str, text: str) -> bool:
    """Whether the run's log (shipped to the API a little after the run's state) shows a line starting with ``text``."""
    return wait_until(lambda: any(line.startswith(text) for line in stack.run_logs(run_id)), 30, step=0.5)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[PrefectStack]:
    s = PrefectStack(tmp_path)
    try:
        s.start_server()
        yield s
    finally:
        s.kill_leftovers()


@pytest.mark.integration
def test_nightly_deployment_runs_on_a_process_worker(tmp_path: Path, stack: PrefectStack) -> None:
    from flows.services import HomeLock

    inbox, done, quarantine, home, inputs = drop_layout(tmp_path, 2)
    archive_env = ingest_env(home, DANGAN_SETTLE_SECONDS="0", DANGAN_DROP_FOLDERS=str(inbox))

    created = stack.cli("work-pool", "create", POOL, "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = stack.cli("deploy", "--prefect-file", "infra/prefect.yaml", "--all", "--no-prompt")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    deployment = stack.get(f"/deployments/name/{DEPLOYMENT}")
    assert deployment["work_pool_name"] == POOL and deployment["entrypoint"] == "flows/nightly.py:nightly"
    assert deployment["parameters"] == {"folders": None, "keep": False}
    (schedule,) = deployment["schedules"]
    assert schedule["schedule"]["cron"] == "30 1 * * *" and schedule["schedule"]["timezone"] == "Asia/Shanghai"
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert not any(key.startswith("DANGAN") for key in json.dumps(deployment)), "a setting became deployment data"

    worker_env = stack.env(**{k: v for k, v in archive_env.items() if k.startswith("DANGAN_")},
                           PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
    worker = stack.start_worker(POOL, worker_env, tmp_path / "worker.log")

    # The nightly run: every scan in the configured drop folder archived, the summary in the run's log.
    started = stack.cli("deployment", "run", DEPLOYMENT)
    assert started.returncode == 0, started.stdout + started.stderr
    run = stack.wait_for_run(run_id_from(started.stdout), 240)
    assert run["state"]["type"] == "COMPLETED", (run["state"], (tmp_path / "worker.log").read_text()[-3000:])
    check_exactly_once(home, inputs, inbox=inbox, done=done, quarantine=quarantine)
    exported = run_dangan(["export", "--jsonl", str(tmp_path / "export.jsonl")], {"DANGAN_HOME": str(home)})
    assert exported.code == 0, exported.stderr
    assert sorted(read_export(tmp_path / "export.jsonl")) == sorted(inputs.values())
    assert logged(stack, run["id"], "2 file(s): 2 stored"), stack.run_logs(run["id"])

    # The monthly reconciliation (每月校对) of what the nightly run archived: its report in the home.
    monthly = stack.get("/deployments/name/monthly-reconcile/monthly-reconcile")
    assert monthly["entrypoint"] == "flows/monthly.py:monthly_reconcile"
    assert monthly["schedules"][0]["schedule"]["cron"] == "0 3 1 * *"
    started = stack.cli("deployment", "run", "monthly-reconcile/monthly-reconcile")
    assert started.returncode == 0, started.stdout + started.stderr
    reconciled = stack.wait_for_run(run_id_from(started.stdout), 240)
    assert reconciled["state"]["type"] == "COMPLETED", (reconciled["state"],
                                                        (tmp_path / "worker.log").read_text()[-3000:])
    assert logged(stack, reconciled["id"], "stored objects: 4 of 2 file(s) checked, 0 problem(s)"), \
        stack.run_logs(reconciled["id"])
    assert len(list((home / "reports").glob("reconcile-*.html"))) == 1

    # The retention list (保管期限到期清单): nothing set aside yet, the empty list written all the same.
    started = stack.cli("deployment", "run", "retention-due/retention-due")
    assert started.returncode == 0, started.stdout + started.stderr
    listed = stack.wait_for_run(run_id_from(started.stdout), 240)
    assert listed["state"]["type"] == "COMPLETED", (listed["state"], (tmp_path / "worker.log").read_text()[-3000:])
    assert logged(stack, listed["id"], "retention: 0 set-aside archive(s), 0 due for destruction"), \
        stack.run_logs(listed["id"])
    assert len(list((home / "reports").glob("retention-*.csv"))) == 1

    # A failure no retry mends (a relative folder) fails at once, without retries.
    started = stack.cli("deployment", "run", DEPLOYMENT, "--param", 'folders=["scans/inbox"]')
    failed = stack.wait_for_run(run_id_from(started.stdout), 120)
    assert failed["state"]["type"] == "FAILED" and failed["run_count"] == 1, failed["state"]
    assert failed["empirical_policy"]["retries"] == 0
    assert logged(stack, failed["id"], "drop folders must be absolute paths"), stack.run_logs(failed["id"])

    # Another ingest holds the archive: the run fails as busy and waits for its retry.
    with HomeLock.acquire(home):
        started = stack.cli("deployment", "run", DEPLOYMENT)
        busy_id = run_id_from(started.stdout)
        busy = stack.wait_for_run(busy_id, 120, name="AwaitingRetry")
    assert busy["empirical_policy"]["retries"] == 2 and busy["empirical_policy"]["retry_delay"] == 900
    assert logged(stack, busy_id, "another ingest is running"), stack.run_logs(busy_id)
    cancelled = stack.cli("flow-run", "cancel", busy_id)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert stack.wait_for_run(busy_id, 60)["state"]["type"] == "CANCELLED"

    # Stopping the worker and the server leaves nothing running. The worker first waits for the flow-run
    # process of the cancelled run, which its cancellation watcher ends on its own schedule (slower on a
    # busy machine): give it time.
    assert stack.stop(worker, timeout=120) is not None, "the worker did not stop on SIGTERM"
    assert stack.stop(stack.processes[0]) is not None, "the server did not stop on SIGTERM"
    assert wait_until(lambda: not processes_naming(tmp_path), 15), processes_naming(tmp_path)
