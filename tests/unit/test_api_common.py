"""What every Berth model shares (berth.api.common): status models refuse unknown keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from berth.api import Condition, EnvironmentStatus, WorkloadStatus


def test_status_models_forbid_unknown_keys_and_check_condition_status() -> None:
    """Unknown status keys are refused (the API server would drop them silently); reading
    a whole object is lenient about its status (tests/unit/test_status_model.py)."""
    with pytest.raises(ValidationError, match="somethingNew"):
        WorkloadStatus.model_validate({"observedGeneration": 1, "somethingNew": True})
    status = WorkloadStatus.model_validate({"observedGeneration": 1})
    assert status.observed_generation == 1
    with pytest.raises(ValidationError):
        Condition.model_validate({"type": "Ready", "status": "Yes"})
    env_status = EnvironmentStatus.model_validate({"workloads": 2, "readyWorkloads": 1})
    assert env_status.model_dump(exclude_none=True) == {"workloads": 2, "readyWorkloads": 1}
