"""TensorBoard files from events.jsonl (`cram export tensorboard`) and live (log.tensorboard = true), read back
with tensorboard's own EventAccumulator: one scalar per event field, the config as hparams, samples as text."""
import shutil
import sys
from pathlib import Path

import pytest

from conftest import tiny_config
from engine.contract.events import EventWriter, number, read_events
from engine.export_cli import main as export_main
from engine.mirrors import (EVAL_SCALARS, STEP_SCALARS, TB_MISSING, MirrorUnavailable, export_tensorboard,
                            flat_config, open_mirrors)

pytest.importorskip("tensorboard")


def accumulate(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def expected_counts(events: list[dict]) -> dict[str, int]:
    """Scalars per tag that the events call for."""
    want: dict[str, int] = {}

    def add(tag, value):
        if number(value) is not None:
            want[tag] = want.get(tag, 0) + 1

    for e in events:
        if e["event"] == "step":
            for key, tag in STEP_SCALARS.items():
                add(tag, e.get(key))
        elif e["event"] == "eval":
            for key, tag in EVAL_SCALARS.items():
                add(tag, e.get(key))
            for lang, b in (e.get("per_language") or {}).items():
                add(f"dev/bleu/{lang}", b)
        elif e["event"] == "result":
            add(f"{e['split']}/bleu4/{e['language']}", e.get("bleu4"))
            add(f"{e['split']}/nltk_bleu4/{e['language']}", e.get("nltk_bleu4"))
    return want


def scalar_counts(ea) -> dict[str, int]:
    return {t: len(ea.Scalars(t)) for t in ea.Tags()["scalars"]}


def hparams_of(ea) -> dict:
    from tensorboard.plugins.hparams import metadata as md

    content = ea.PluginTagToContent("hparams")
    start = md.parse_session_start_info_plugin_data(content[md.SESSION_START_INFO_TAG])
    exp = md.parse_experiment_plugin_data(content[md.EXPERIMENT_TAG])
    end = md.parse_session_end_info_plugin_data(content[md.SESSION_END_INFO_TAG])
    values = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    return {"values": values, "metrics": [m.name.tag for m in exp.metric_infos], "status": end.status}


@pytest.fixture(scope="module")
def live_run(tmp_path_factory, stdlib_corpus):
    """A tiny run trained with log.tensorboard = true."""
    from engine import train

    d = tmp_path_factory.mktemp("run")
    w = EventWriter(d / "events.jsonl")
    try:
        assert train.run(tiny_config(**{"eval.every_seconds": 2, "log.tensorboard": True}), d, w) == 0
    finally:
        w.close()
    return d, list(read_events(d / "events.jsonl"))


@pytest.mark.slow
def test_export_has_one_scalar_per_event_field_hparams_and_samples(live_run, tmp_path):
    from tensorboard.plugins.hparams import api_pb2

    d, events = live_run
    logdir, n = export_tensorboard(d, tmp_path / "tb")
    ea = accumulate(logdir)
    want = expected_counts(events)
    assert scalar_counts(ea) == want and n == sum(want.values())
    assert want["train/loss"] == sum(e["event"] == "step" for e in events)
    assert want["dev/bleu"] == sum(e["event"] == "eval" for e in events) >= 2
    # values and steps follow the events
    steps = [e for e in events if e["event"] == "step"]
    assert [(s.step, s.value) for s in ea.Scalars("train/loss")] == [
        (e["step"], pytest.approx(e["loss"], rel=1e-6)) for e in steps]
    last_step = steps[-1]["step"]
    [res] = [e for e in events if e["event"] == "result"]
    [tb_res] = ea.Scalars("test/bleu4/python")
    assert tb_res.step == last_step and tb_res.value == pytest.approx(res["bleu4"], rel=1e-6)
    # the config as hparams, the session's end status
    started = next(e for e in events if e["event"] == "started")
    hp = hparams_of(ea)
    assert hp["values"].keys() == flat_config(started["config"]).keys()
    assert hp["values"]["train.lr"] == started["config"]["train"]["lr"]
    assert hp["values"]["data.languages"] == "python" and hp["values"]["log.tensorboard"] is True
    assert "dev/bleu" in hp["metrics"] and "test/bleu4/python" in hp["metrics"]
    assert hp["status"] == api_pb2.STATUS_SUCCESS
    # samples as a text table
    sample = next(e for e in events if e["event"] == "samples")["items"][0]
    text = ea.Tensors("test/samples/python")[0].tensor_proto.string_val[0].decode()
    assert text.startswith("| idx | code | reference | prediction | BLEU |")
    assert " ".join(sample["reference"].split()).replace("|", "\\|") in text.replace("\\\\", "\\")


@pytest.mark.slow
def test_live_mirror_writes_what_the_export_writes(live_run, tmp_path):
    d, events = live_run
    live = d / "tensorboard"
    assert live.is_dir() and list(live.glob("events.out.tfevents.*")), \
        "the emitter's mirror hook (engine.mirrors.open_mirrors) is not in place"
    logdir, _ = export_tensorboard(d, tmp_path / "tb")
    assert scalar_counts(accumulate(live)) == scalar_counts(accumulate(logdir)) == expected_counts(events)


@pytest.mark.slow
def test_reexport_replaces_its_own_files_and_cli_exports_several_runs(live_run, tmp_path, capsys):
    d, events = live_run
    run = tmp_path / "old-run"
    run.mkdir()
    shutil.copy(d / "events.jsonl", run / "events.jsonl")  # an old run: events only
    foreign = run / "tensorboard" / "events.out.tfevents.123.other"
    foreign.parent.mkdir()
    foreign.write_bytes(b"")
    for _ in range(2):
        assert export_main(["tensorboard", str(run)]) == 0
    files = sorted(p.name for p in (run / "tensorboard").iterdir())
    assert len(files) == 2 and foreign.name in files  # ours replaced, a foreign file left alone
    assert "view with: tensorboard --logdir" in capsys.readouterr().out
    out = tmp_path / "tb"
    assert export_main(["tensorboard", str(run), str(run), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["old-run", "old-run-2"]
    assert scalar_counts(accumulate(out / "old-run-2")) == expected_counts(events)
    assert export_main(["tensorboard", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_without_tensorboard_a_clear_message(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    (tmp_path / "events.jsonl").write_text('{"v":1,"event":"step","time":1,"step":1,"loss":2.0}\n')
    with pytest.raises(MirrorUnavailable, match="pip install"):
        export_tensorboard(tmp_path, tmp_path / "tb")
    assert export_main(["tensorboard", str(tmp_path)]) == 2
    assert "cramgui[tensorboard]" in capsys.readouterr().err
    m = open_mirrors(tiny_config(**{"log.tensorboard": True}), tmp_path)
    assert [type(x).__name__ for x in m.mirrors] == ["MetricsCsv"]
    assert m.problems and TB_MISSING in m.problems[0]
