"""Trial proposals from the search space (pure): the grid in order, seeded random and
Optuna draws inside their ranges, the space's own checks, and applying a trial."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from slipway.config import TuningSettings, load_settings
from slipway.errors import ConfigError
from slipway.workflow import tuning

SPACE = {
    "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
    "batch_size": {"low": 32, "high": 512, "integer": True},
    "hidden_sizes": {"choices": [[32], [64, 32]]},
}


def test_the_grid_is_the_product_of_the_choices_in_order_and_capped() -> None:
    space = {"dropout": {"choices": [0.0, 0.2]}, "batch_size": {"choices": [64, 128, 256]}}
    grid = TuningSettings.model_validate({"sampler": "grid", "space": space})
    trials = tuning.propose(grid, 100)
    assert [t.params for t in trials] == [
        {"batch_size": b, "dropout": d} for b in (64, 128, 256) for d in (0.0, 0.2)
    ]
    assert [t.index for t in tuning.propose(grid, 2)] == [0, 1]
    assert tuning.propose(grid, 0) == []


@pytest.mark.parametrize("sampler", ["random", "optuna"])
def test_draws_are_seeded_and_inside_their_ranges(sampler: str) -> None:
    settings = TuningSettings.model_validate({"sampler": sampler, "seed": 3, "space": SPACE})
    trials = tuning.propose(settings, 6)
    assert [t.params for t in trials] == [t.params for t in tuning.propose(settings, 6)]
    other = TuningSettings.model_validate({"sampler": sampler, "seed": 4, "space": SPACE})
    assert [t.params for t in trials] != [t.params for t in tuning.propose(other, 6)]
    for trial in trials:
        assert 1e-4 <= trial.params["learning_rate"] <= 1e-1
        assert isinstance(trial.params["batch_size"], int)
        assert 32 <= trial.params["batch_size"] <= 512
        assert trial.params["hidden_sizes"] in ([32], [64, 32])
        # every proposal trains: the settings accept it
        tuning.with_hyperparameters(load_settings(), trial.params)
    rates = [math.log10(t.params["learning_rate"]) for t in tuning.propose(settings, 40)]
    assert min(rates) < -3 and max(rates) > -2  # drawn across the log range


def test_the_search_space_refuses_what_cannot_be_tuned_or_searched() -> None:
    for bad, message in [
        ({"space": {"seed": {"choices": [1, 2]}}}, "only hidden_sizes"),
        ({"space": {"dropout": {"low": 0.3, "high": 0.1}}}, "must be below"),
        ({"space": {"dropout": {"choices": [0.1], "low": 0.0, "high": 0.2}}}, "not both"),
        ({"space": {"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}}, "low > 0"),
        ({"sampler": "grid", "space": {"dropout": {"low": 0.0, "high": 0.2}}}, "needs choices"),
    ]:
        with pytest.raises(ValidationError, match=message):
            TuningSettings.model_validate(bad)


def test_a_trial_is_applied_validated_and_its_text_parsed() -> None:
    settings = load_settings()
    tuned = tuning.with_hyperparameters(settings, {"dropout": 0.3, "hidden_sizes": [8]})
    assert (tuned.training.dropout, tuned.training.hidden_sizes) == (0.3, [8])
    assert tuned.training.seed == settings.training.seed
    assert tuning.with_hyperparameters(settings, {}) is settings
    with pytest.raises(ConfigError, match="hyperparameters"):
        tuning.with_hyperparameters(settings, {"dropout": 2.0})
    assert tuning.parse("") == {}
    assert tuning.parse('{"dropout": 0.1}') == {"dropout": 0.1}
    for bad in ("[1]", "{not json"):
        with pytest.raises(ConfigError):
            tuning.parse(bad)
    trial = tuning.Trial(2, {"dropout": 0.1})
    assert trial.as_item() == {"trial": "2", "params": '{"dropout": 0.1}'}
