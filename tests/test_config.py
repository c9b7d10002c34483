import pytest

from soralite.config import Config, get_config, default_preset


def test_presets_exist_and_validate():
    for name in ("smoke", "tiny", "workshop"):
        cfg = get_config(name)
        assert cfg.name == name


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'.*smoke, tiny, workshop"):
        get_config("huge")


def test_overrides_from_code_and_command_line():
    a = get_config("tiny", overrides={"world.height": 64, "train.lr": 1e-3})
    b = get_config("tiny", overrides=["world.height=64", "train.lr=0.001"])
    c = get_config("tiny", world__height=64, train__lr=1e-3)
    assert a.world.height == b.world.height == c.world.height == 64
    assert a.train.lr == b.train.lr == c.train.lr == 1e-3
    d = get_config("tiny", overrides=["world.colours=red,green", "world.wall_prob=0.5"])
    assert d.world.colours == ("red", "green") and d.world.wall_prob == 0.5
    # presets are fresh copies: overriding one run never changes the next
    assert get_config("tiny").world.height == 32


def test_bad_overrides_name_the_key():
    with pytest.raises(ValueError, match="unknown config key 'world.hieght'.*height"):
        get_config("tiny", overrides=["world.hieght=3"])
    with pytest.raises(ValueError, match="key=value"):
        get_config("tiny", overrides=["world.height"])
    with pytest.raises(ValueError, match="world.height takes a int"):
        get_config("tiny", overrides=["world.height=tall"])
    with pytest.raises(ValueError, match=r"world.height and world.width must be >= 16"):
        get_config("tiny", overrides={"world.height": 8})
    with pytest.raises(ValueError, match=r"world.frames must be >= 1"):
        get_config("tiny", overrides={"world.frames": 0})
    with pytest.raises(ValueError, match="world.colours.*allowed"):
        get_config("tiny", overrides=["world.colours=red,pink"])


def test_env_var_picks_the_preset(monkeypatch):
    monkeypatch.setenv("SORALITE_PRESET", "smoke")
    assert default_preset() == "smoke"
    assert get_config().name == "smoke"
    monkeypatch.delenv("SORALITE_PRESET")
    import torch
    assert default_preset() == ("workshop" if torch.cuda.is_available() else "tiny")


def test_round_trip_through_dict():
    cfg = get_config("workshop")
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="unknown field"):
        Config.from_dict({**cfg.to_dict(), "colour": 1})
