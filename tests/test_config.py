"""One configuration object for mining: the same run from a config or from keywords, errors that name the option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer

from trueneg.cli import mine as mine_command
from trueneg.data import load_beir
from trueneg.mining import MiningConfig, mine_negatives

DEMO = Path(__file__).resolve().parents[1] / "trueneg" / "data" / "demo"


def test_config_and_keywords_mine_the_same_negatives() -> None:
    data = load_beir(DEMO, "train")
    config = MiningConfig(num_negatives=3, retriever="sparse", sampling="random", seed=4, near_duplicate=None)
    from_config = mine_negatives(data, config=config, show_progress=False)
    from_keywords = mine_negatives(
        data, num_negatives=3, retriever="sparse", sampling="random", seed=4, near_duplicate=None, show_progress=False
    )
    assert np.array_equal(from_config.negatives, from_keywords.negatives)
    # a keyword overrides the config
    other = mine_negatives(data, config=config, seed=5, show_progress=False)
    assert not np.array_equal(other.negatives, from_config.negatives)
    assert other.summary["num_negatives"] == 3


def test_config_is_validated_and_names_the_option() -> None:
    with pytest.raises(ValueError, match="sampling must be one of top, random, simans; got 'best'"):
        MiningConfig(sampling="best")
    with pytest.raises(ValueError, match="range_min < range_max"):
        MiningConfig(range_min=5, range_max=5)
    with pytest.raises(ValueError, match=r"max_fn_rate must be in \[0, 1\]"):
        MiningConfig().replace(max_fn_rate=2.0)
    with pytest.raises(TypeError, match="unknown mining option.*num_negative\\b"):
        mine_negatives(load_beir(DEMO, "train"), num_negative=3)
    assert MiningConfig(num_negatives=4).window == (0, 40)
    assert MiningConfig(range_min=2, range_max=9).to_dict()["range_max"] == 9


def test_cli_defaults_are_the_config_defaults() -> None:
    import inspect

    defaults = MiningConfig().to_dict()
    checked = 0
    for name, parameter in inspect.signature(mine_command).parameters.items():
        option = parameter.default
        if isinstance(option, typer.models.OptionInfo) and name in defaults:
            assert option.default == defaults[name], name
            checked += 1
    assert checked >= 15
