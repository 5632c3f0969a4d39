"""The config tree: presets, overrides, validation messages, files, the console's command line."""
import json
import sys

import pytest

from engine.contract import config as c


def test_presets_exist_and_smoke_is_valid():
    assert {"smoke", "cram-1h", "code2nl-paper"} <= set(c.preset_names())
    smoke = c.preset("smoke")
    assert c.validate(smoke) == []
    assert smoke.budget.seconds == 120 and smoke.model.size == "micro" and smoke.data.source == "builtin"
    assert smoke.data.lowercase and smoke.data.split_identifiers and smoke.train.lr == 5e-3
    assert smoke.data.site_packages_train and smoke.data.oversample == 3
    paper = c.preset("code2nl-paper")
    assert (paper.model.name_or_path, paper.train.lr, paper.train.batch_size, paper.eval.beam_size) == \
        ("microsoft/codebert-base", 5e-5, 32, 10)
    assert (paper.data.max_source_len, paper.data.max_target_len, paper.budget.max_epochs) == (256, 128, 10)


def test_overrides_coerce_types():
    cfg = c.RunConfig()
    c.apply_overrides(cfg, ["train.lr=1e-4", "budget.seconds=30", "hardware.compile=true",
                            "data.languages=ruby,go", "eval.beam_size=5"])
    assert cfg.train.lr == 1e-4 and cfg.budget.seconds == 30.0 and cfg.hardware.compile is True
    assert cfg.data.languages == ["ruby", "go"] and cfg.eval.beam_size == 5


@pytest.mark.parametrize("item, fragment", [
    ("train.lr=abc", "expected a float"),
    ("eval.beam_size=2.5", "whole number"),
    ("nosuch.key=1", "unknown setting"),
    ("train.lr", "section.key=value"),
])
def test_bad_overrides_name_the_field(item, fragment):
    with pytest.raises(c.ConfigError) as e:
        c.apply_overrides(c.RunConfig(), [item])
    assert fragment in str(e.value)


def test_validation_names_field_value_and_range():
    cfg = c.RunConfig()
    cfg.eval.beam_size = 0
    cfg.train.schedule = "cosine"
    errs = {e.field: e.message for e in c.validate(cfg)}
    assert errs["eval.beam_size"] == "0 is below the minimum 1 (allowed 1..64)"
    assert "cosine" in errs["train.schedule"] and "budget-triangle" in errs["train.schedule"]


def test_cross_field_rules():
    cfg = c.RunConfig()
    cfg.model.source = "encoder"
    cfg.data.source = "codexglue"
    cfg.data.path = "/nonexistent/folder"
    cfg.train.schedule = "linear"
    errs = {e.field: e.message for e in c.validate(cfg)}
    assert "hub id" in errs["model.name_or_path"]
    assert "does not exist" in errs["data.path"]
    assert "max_steps" in errs["train.schedule"]


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_load_roundtrip(tmp_path, suffix):
    cfg = c.preset("smoke")
    cfg.data.languages = ["python"]
    cfg.train.lr = 3.5e-4
    p = tmp_path / f"run{suffix}"
    c.save(cfg, p)
    assert c.load(p) == cfg
    if suffix == ".json":
        assert json.loads(p.read_text())["train"]["lr"] == 3.5e-4


def test_two_writers_saving_one_config_never_collide(tmp_path):
    """Two sweep workers write the sweep's base.toml at the same moment (CI saw one fail: its shared `.tmp` name
    had been renamed away by the other); each save now has a temp file of its own, and the file is always whole."""
    import threading

    cfg = c.preset("smoke")
    p = tmp_path / "base.toml"
    errors: list[BaseException] = []

    def write():
        try:
            for _ in range(200):
                c.save(cfg, p)
        except BaseException as e:  # noqa: BLE001 - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert c.load(p) == cfg
    assert [f.name for f in tmp_path.iterdir()] == ["base.toml"]


def test_load_errors(tmp_path):
    with pytest.raises(c.ConfigError, match="not found"):
        c.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = ")
    with pytest.raises(c.ConfigError, match="cannot parse"):
        c.load(bad)


def test_cli_args_reproduce_the_config():
    cfg = c.preset("smoke")
    cfg.train.lr = 1e-3
    cfg.data.languages = ["python"]
    args = c.to_cli_args(cfg)
    rebuilt = c.RunConfig()
    c.apply_overrides(rebuilt, [a for a in args if a != "--set"])
    assert rebuilt == cfg


def test_field_specs_cover_every_field_with_help():
    specs = c.field_specs()
    names = {s["name"] for s in specs}
    assert {"model.source", "data.languages", "train.lr", "budget.seconds", "eval.beam_size",
            "hardware.precision"} <= names
    assert all(s["help"] for s in specs)


def test_toml_round_trips_non_bmp_text(tmp_path):
    import tomllib

    from engine.contract import slurm

    cfg = c.preset("smoke")
    cfg.name = "emoji \U0001F600 run \u00e9"
    path = tmp_path / "cfg.toml"
    c.save(cfg, path)
    assert c.load(path).name == cfg.name
    script = slurm.render(cfg, run_dir=str(tmp_path / "r"), gpus=1, time="1:00:00")
    embedded = script.split("<<'CRAM_CONFIG'\n", 1)[1].split("\nCRAM_CONFIG\n", 1)[0]
    assert c.RunConfig.from_dict(tomllib.loads(embedded)).name == cfg.name


def test_presets_come_from_the_package_resources():
    assert {"smoke", "cram-1h", "code2nl-paper"} <= set(c.preset_names())
    assert c.resource("presets", "smoke.toml").is_file()
    assert c.resource("reference", "published_bleu.csv").is_file()


def test_cache_follows_the_platform(monkeypatch, tmp_path):
    from engine.contract.paths import cache_root

    monkeypatch.delenv("CRAM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache_root() == tmp_path / "xdg" / "cramgui"
    monkeypatch.setenv("CRAM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


@pytest.mark.parametrize("name, value", [("train.lr", True), ("train.batch_size", True), ("train.batch_size", "１６"),
                                         ("train.lr", "１e-3"), ("data.languages", {"a": 1}), ("train.lr", [1]),
                                         ("hardware.compile", 2), ("model.name_or_path", {"x": 1})])
def test_no_type_confusion_in_settings(name, value):
    with pytest.raises(c.ConfigError) as e:
        c.coerce(name, value)
    assert e.value.field == name and "expected" in e.value.message


@pytest.mark.parametrize("text, suffix, want", [(b"[1, 2]", ".json", "top level"), (b"\xff\xfe[", ".toml", "UTF-8"),
                                                (b'model = 5', ".toml", "table of model"),
                                                (b'{"train": {"lr": true}}', ".json", "expected a float")])
def test_bad_config_files_get_a_field_message(tmp_path, text, suffix, want):
    p = tmp_path / f"cfg{suffix}"
    p.write_bytes(text)
    with pytest.raises(c.ConfigError, match=want):
        c.load(p)


def test_fp16_on_a_cpu_is_refused_at_the_field():
    cfg = c.preset("smoke")
    cfg.hardware.device, cfg.hardware.precision = "cpu", "fp16"
    assert [e.field for e in c.validate(cfg)] == ["hardware.precision"]
