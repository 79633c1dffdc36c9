"""Cluster shadow mode on real predictors: the champion's lean HTTP layer mirrors to the
shadow's URL named in a target file (on the cluster a ConfigMap key the chart mounts, which
the kubelet refreshes in place), and counts the comparisons in its own /metrics. The file
is written here as the KServe backend writes the ConfigMap; nothing restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from serving_support import MODEL, VALID, World
from traffic_support import shadow_counts

from slipway.serving.shadow import TARGET_FILE_ENV

pytestmark = pytest.mark.integration


def test_the_champion_predictor_mirrors_to_the_file_target_without_restart(
    world: World, tmp_path: Path
) -> None:
    first, second = world.versions
    target_file = tmp_path / "shadow" / "target.json"
    shadow = world.serve(second)
    champion = world.serve(first, env={TARGET_FILE_ENV: str(target_file)})
    with httpx.Client(timeout=10) as http:
        predict = f"{champion.url}/v1/models/{MODEL}:predict"
        # No file yet: nothing is mirrored.
        assert http.post(predict, json={"instances": [VALID]}).status_code == 200
        assert not shadow_counts(champion.url)
        target_file.parent.mkdir()
        target = {"url": shadow.url, "model_name": MODEL, "model_version": second,
                  "percent": 100, "score_tolerance": 1.0}  # fmt: skip
        target_file.write_text(json.dumps(target))
        time.sleep(1.2)  # the file is looked at once a second at most
        for _ in range(20):
            r = http.post(predict, json={"instances": [VALID]})
            assert r.status_code == 200
            assert r.headers["x-slipway-model-version"] == first  # the live answer's own
        time.sleep(1.0)
        counts = shadow_counts(champion.url)
        # Tolerance 1.0: only the labels must be equal, and one row has one label.
        assert counts["agree"] + counts["disagree"] == 20, counts
        assert counts["error"] == 0 and counts["dropped"] == 0
        target_file.write_text("")  # off again, still without a restart
        time.sleep(1.2)
        http.post(predict, json={"instances": [VALID]})
        time.sleep(0.5)
        assert sum(shadow_counts(champion.url).values()) == 20
