"""A warm start: model.source=seq2seq with an earlier run's directory as the model folder trains on from that run's
best checkpoint (its weights and its tokenizer); a symbolic-link checkpoint or a run without one is refused."""
import pytest
import torch

from conftest import tiny_config
from engine import model as model_lib, session, train
from engine.contract import config as config_lib
from engine.contract.events import EventWriter, read_events


def run_train(cfg, run_dir):
    w = EventWriter(run_dir / "events.jsonl")
    try:
        return train.run(cfg, run_dir, w)
    finally:
        w.close()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, stdlib_corpus):
    d = tmp_path_factory.mktemp("first")
    assert run_train(tiny_config(**{"budget.seconds": 3, "eval.every_seconds": 1}), d) == 0
    return d


def test_warm_start_from_a_run_directory(first_run, tmp_path):
    cfg = tiny_config(**{"model.source": "seq2seq", "model.name_or_path": str(first_run), "budget.seconds": 2})
    assert session.model_location(cfg) == str(first_run / "checkpoints" / "best")
    seen = {}
    real_build = session.build_model

    def build_and_look(c, tokenizer, location=None):
        model, meta = real_build(c, tokenizer, location)
        seen["weights"] = {k: v.clone() for k, v in model.state_dict().items()}
        seen["vocab"] = tokenizer.get_vocab()
        return model, meta

    mp = pytest.MonkeyPatch()
    mp.setattr(session, "build_model", build_and_look)
    try:
        assert run_train(cfg, tmp_path / "second") == 0
    finally:
        mp.undo()
    best, tok, _ = model_lib.load(first_run / "checkpoints" / "best")
    assert seen["vocab"] == tok.get_vocab()                        # the first run's tokenizer
    for k, v in best.state_dict().items():                         # ... and its trained weights, to start from
        assert torch.equal(seen["weights"][k], v), k
    done = [e for e in read_events(tmp_path / "second" / "events.jsonl") if e["event"] == "done"]
    assert done and done[-1]["status"] == "completed"


def test_a_run_without_checkpoint_or_with_a_linked_one_is_refused(first_run, tmp_path):
    empty = tmp_path / "empty-run"
    (empty / "checkpoints").mkdir(parents=True)
    (empty / "events.jsonl").write_text("")
    cfg = tiny_config(**{"model.source": "seq2seq", "model.name_or_path": str(empty)})
    with pytest.raises(Exception, match="has no checkpoint yet"):
        session.model_location(cfg)
    (empty / "checkpoints" / "best").symlink_to(first_run / "checkpoints" / "best")
    with pytest.raises(Exception, match="symbolic link"):
        session.model_location(cfg)
    (empty / "checkpoints" / "best").unlink()
    last = empty / "checkpoints" / "last"
    last.mkdir()
    for f in (first_run / "checkpoints" / "best").iterdir():      # a copy whose weights point outside the run
        (last / f.name).symlink_to(f) if f.name == "model.safetensors" else (last / f.name).write_bytes(
            f.read_bytes()) if f.is_file() else None
    with pytest.raises(Exception, match="holds symbolic links .*model.safetensors"):
        session.model_location(cfg)
    assert config_lib.validate(cfg) == []
