"""The example instance configurations of deploy/ pass Dagster's own validation.

Each file is checked against Dagster's instance schema (storage, run queue, pools, monitoring);
the configuration of every pluggable class whose package is installed here (run coordinator,
run launcher) is checked against that class's own schema. dagster-k8s, dagster-celery-k8s and
dagster-postgres are not installed (their releases pin an older dagster patch than ours), so for
those the shape is checked by Dagster's schema and the class's own fields are not: named here.
"""

import importlib.util
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VARIANTS = sorted(DEPLOY.glob("dagster.*.yaml"))
NOT_INSTALLED_HERE = {"dagster_k8s", "dagster_celery_k8s"}


def _validated(path: Path, tmp_path: Path) -> dict:
    home = tmp_path / path.stem
    home.mkdir()
    shutil.copy(path, home / "dagster.yaml")
    config, _ = dagster_instance_config(str(home))
    return config


def test_there_is_a_variant_per_deployment():
    assert [p.name for p in VARIANTS] == ["dagster.celery-k8s.yaml", "dagster.k8s.yaml",
                                          "dagster.local.yaml", "dagster.postgres.yaml"]


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.name)
def test_variant_passes_dagster_validation(path, tmp_path):
    config = _validated(path, tmp_path)
    runs = config["concurrency"]["runs"]
    assert config["concurrency"]["pools"]["default_limit"] == 1  # one warehouse writer
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True},
            "limit": 1} in runs["tag_concurrency_limits"]
    for part in ("run_coordinator", "run_launcher"):
        entry = config[part]
        if entry["module"] in NOT_INSTALLED_HERE:
            assert importlib.util.find_spec(entry["module"]) is None  # else: validate it below
            continue
        klass = class_from_code_pointer(entry["module"], entry["class"])
        result = validate_config(klass.config_type(), entry.get("config") or {})
        assert result.success, (part, result.errors)


def test_a_misspelled_setting_is_refused(tmp_path):
    text = (DEPLOY / "dagster.postgres.yaml").read_text().replace("max_concurrent_runs",
                                                                   "max_concurent_runs")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(DagsterInvalidConfigError, match="max_concurent_runs"):
        _validated(bad, tmp_path)


def test_local_variant_builds_an_instance_with_the_queue_and_pool(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert limits == yaml.safe_load((DEPLOY / "dagster.local.yaml").read_text())[
            "concurrency"]["runs"]["tag_concurrency_limits"]
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    finally:
        instance.dispose()
