"""``rollout abort`` from a machine without the local state file sets the durable abort
mark (an InferenceService annotation) through KServeBackend against a fake Kubernetes API
(fakes.FakeKubernetes, through the real ``kubernetes`` client), so that a controller
running elsewhere sees it and does not promote."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeKubernetes
from test_kserve_backend import (
    CANARY,
    CHAMPION,
    backend_for,
    custom_container_isvc,
    fake,  # noqa: F401  (the fixture)
)

from slipway.rollout.service import abort_rollout


def test_abort_without_state_file_sets_the_mark(
    fake: tuple[FakeKubernetes, str],  # noqa: F811
    crd_schema_dir: Path,
    tmp_path: Path,
) -> None:
    _, url = fake
    controller_side = backend_for(url, crd_schema_dir)
    controller_side.create(custom_container_isvc())
    controller_side.deploy_canary(CANARY, CHAMPION, 10)
    assert not controller_side.abort.requested()
    runtime = SimpleNamespace(
        state_dir=tmp_path / "no-state-here",
        rollout_backend=lambda env=None: backend_for(url, crd_schema_dir),
        process_alive=lambda pid: False,
    )
    abort_rollout(runtime, wait=0)  # type: ignore[arg-type]
    # The running controller polls this at its next check and rolls back.
    assert controller_side.abort.requested()


def test_an_abort_after_the_last_check_still_beats_promotion() -> None:
    from test_controller import GOOD, SETTINGS, Abort, _run

    from slipway.rollout.records import BaseRecorder

    late = Abort()

    class AbortAfterLastStep(BaseRecorder):
        # The mark lands after the last window passed, before the promotion.
        def step_passed(self, outcome: object, number: int, step: object) -> None:
            if number == len(SETTINGS.steps):
                late.request()

    outcome, router, _ = _run([GOOD], abort=late, recorders=[AbortAfterLastStep()])
    assert outcome.decision == "aborted"
    assert not any(call[0] == "promote" for call in router.calls)
