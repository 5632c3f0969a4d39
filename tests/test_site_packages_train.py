"""data.site_packages_train: the site-packages corpus's training split joins the standard library's training split;
dev and test stay the standard library's, and nothing held out leaks into training."""
import json

from engine import corpus, data, session
from engine.contract import config as ec
from engine.distributed import Dist


def ex(i, source, split="train"):
    return data.Example(idx=i, language="python", source=source, target=f"summary {i}", code=source, path="",
                        func_name="f")


def loaded_with(train, valid, test):
    rep = lambda split, n: data.SplitReport(path=f"/std/{split}.jsonl", language="python", split=split, n=n)  # noqa: E731
    return {("python", "train"): (train, rep("train", len(train))),
            ("python", "valid"): (valid, rep("valid", len(valid))),
            ("python", "test"): (test, rep("test", len(test)))}


def test_held_out_and_repeated_sources_are_not_added():
    loaded = loaded_with([ex(0, "def a")], [ex(0, "def dev")], [ex(0, "def test")])
    extra = [ex(0, "def a"), ex(1, "def test"), ex(2, "def dev"), ex(3, "def new"), ex(4, "def new"),
             ex(5, "def other")]
    extra_report = data.SplitReport(path="/site/train.jsonl", language="python", split="train", n=6, skipped=2,
                                    reasons={"too_long": 2})
    added = data.add_training_examples(loaded, "python", extra, extra_report)
    train, report = loaded[("python", "train")]
    assert added == 2
    assert [e.source for e in train] == ["def a", "def new", "def other"]
    assert report.n == 3 and report.skipped == 2 and report.reasons == {"too_long": 2}
    assert "/std/train.jsonl" in report.path and "/site/train.jsonl" in report.path
    assert [e.source for e in loaded[("python", "valid")][0]] == ["def dev"]      # dev and test untouched
    assert [e.source for e in loaded[("python", "test")][0]] == ["def test"]


def test_max_train_caps_the_combined_split():
    loaded = loaded_with([ex(0, "a"), ex(1, "b")], [ex(0, "v")], [ex(0, "t")])
    rep = data.SplitReport(path="/site", language="python", split="train", n=5)
    assert data.add_training_examples(loaded, "python", [ex(i, f"x{i}") for i in range(5)], rep, max_train=4) == 2
    assert len(loaded[("python", "train")][0]) == 4


def write_split(folder, split, rows, lang="python"):
    p = folder / lang / f"{split}.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps({"code_tokens": c.split(), "docstring_tokens": d.split()}) + "\n"
                         for c, d in rows), encoding="utf-8")


def test_load_splits_trains_on_both_and_keeps_stdlib_dev_and_test(tmp_path, monkeypatch):
    std, site = tmp_path / "std", tmp_path / "site"
    for split, rows in {"train": [("def a", "does a")], "valid": [("def v", "does v")],
                        "test": [("def t", "does t")]}.items():
        write_split(std, split, rows)
    # the site corpus's train holds the stdlib's own training function, a vendored copy of the test function and
    # two new ones; its dev/test are never read
    write_split(site, "train", [("def a", "does a"), ("def t", "does t copy"), ("def s1", "s one"),
                                ("def s2", "s two")])
    write_split(site, "valid", [("def sv", "site dev")])
    write_split(site, "test", [("def st", "site test")])
    monkeypatch.setattr(corpus, "ensure_builtin_corpus",
                        lambda cache, include_site_packages=False, progress=None: site if include_site_packages
                        else std)
    cfg = ec.DataConfig(source="builtin", languages=["python"], site_packages_train=True)
    events = []
    splits = session.load_splits(cfg, Dist(), lambda kind, **kw: events.append((kind, kw)))
    assert sorted(e.source for e in splits[("python", "train")]) == ["def a", "def s1", "def s2"]
    assert [e.source for e in splits[("python", "valid")]] == ["def v"]
    assert [e.source for e in splits[("python", "test")]] == ["def t"]
    train_event = next(kw for kind, kw in events if kind == "data" and kw["split"] == "train")
    assert train_event["n"] == 3
    assert any(kind == "log" and "2 more training examples" in kw["message"] for kind, kw in events)

    cfg.site_packages_train = False                      # off: the standard library alone
    splits = session.load_splits(cfg, Dist(), lambda kind, **kw: None)
    assert [e.source for e in splits[("python", "train")]] == ["def a"]


def test_builtin_train_adds_python_training_examples_to_codexglue_data(tmp_path, monkeypatch):
    cx, site = tmp_path / "cx", tmp_path / "site"
    for lang in ("ruby", "python"):
        for split in ("train", "valid", "test"):
            write_split(cx, split, [(f"def {lang}_{split}", f"{lang} {split} summary")], lang)
    write_split(site, "train", [("def a", "does a"), ("def python_test", "held out"), ("def b", "does b")])
    asked = []
    monkeypatch.setattr(corpus, "ensure_builtin_corpus",
                        lambda cache=None, include_site_packages=False, progress=None: asked.append(
                            include_site_packages) or site)
    cfg = ec.DataConfig(source="codexglue", path=str(cx), languages=["ruby"], builtin_train=True)
    events = []
    splits = session.load_splits(cfg, Dist(), lambda kind, **kw: events.append((kind, kw)))
    assert asked == [True]                                   # the stdlib + site-packages corpus
    # a training-only Python split; Ruby's splits are the CodeXGLUE files' alone
    assert [e.source for e in splits[("python", "train")]] == ["def a", "def python_test", "def b"]
    assert ("python", "valid") not in splits and ("python", "test") not in splits
    assert [e.source for e in splits[("ruby", "train")]] == ["def ruby_train"]
    assert [e.source for e in splits[("ruby", "test")]] == ["def ruby_test"]
    assert any(kind == "log" and "3 more (Python) training examples" in kw["message"] for kind, kw in events)
    cfg.max_train = 2                                         # data.max_train caps the Python split too
    assert len(session.load_splits(cfg, Dist(), lambda kind, **kw: None)[("python", "train")]) == 2
    cfg.max_train = 0
    # Python among the languages: its training split grows, minus the copy of its held-out test function
    cfg.languages = ["ruby", "python"]
    splits = session.load_splits(cfg, Dist(), lambda kind, **kw: None)
    assert [e.source for e in splits[("python", "train")]] == ["def python_train", "def a", "def b"]
    assert [e.source for e in splits[("python", "test")]] == ["def python_test"]
    cfg.builtin_train = False
    assert [e.source for e in session.load_splits(cfg, Dist(), lambda kind, **kw: None)[("python", "train")]] == \
        ["def python_train"]


def test_builtin_train_is_for_codexglue_data():
    cfg = ec.RunConfig()
    cfg.data.builtin_train = True
    assert any(e.field == "data.builtin_train" for e in ec.validate(cfg))
    cfg.data.source, cfg.data.path = "codexglue", "/data/codexglue"
    assert not any(e.field == "data.builtin_train" for e in ec.validate(cfg))


def test_added_examples_are_marked_and_oversample_repeats_only_the_own_ones(tmp_path, monkeypatch):
    std, site = tmp_path / "std", tmp_path / "site"
    for split, rows in {"train": [("def a", "does a"), ("def b", "does b")], "valid": [("def v", "does v")],
                        "test": [("def t", "does t")]}.items():
        write_split(std, split, rows)
    write_split(site, "train", [("def a", "does a"), ("def Sa", "s one"), ("def sb", "s two"), ("def sc", "s 3")])
    monkeypatch.setattr(corpus, "ensure_builtin_corpus",
                        lambda cache, include_site_packages=False, progress=None: site if include_site_packages
                        else std)
    cfg = ec.DataConfig(source="builtin", languages=["python"], site_packages_train=True, split_identifiers=True,
                        lowercase=True)
    train = session.load_splits(cfg, Dist(), lambda kind, **kw: None)[("python", "train")]
    # the mark survives the identifier split and the lower-casing
    assert [(e.source, e.added) for e in train] == [("def a", False), ("def b", False), ("def sa", True),
                                                    ("def sb", True), ("def sc", True)]
    assert session.train_repeats(train, 3) == [3, 3, 1, 1, 1]
    assert session.train_repeats(train, 1) is None                    # the default: every example once
    own_only = [e for e in train if not e.added]
    assert session.train_repeats(own_only, 3) is None                 # nothing added: nothing to oversample


def test_builtin_train_examples_are_marked_as_added(tmp_path, monkeypatch):
    cx, site = tmp_path / "cx", tmp_path / "site"
    for split in ("train", "valid", "test"):
        write_split(cx, split, [(f"def ruby_{split}", f"ruby {split} summary")], "ruby")
    write_split(site, "train", [("def a", "does a"), ("def b", "does b")])
    monkeypatch.setattr(corpus, "ensure_builtin_corpus",
                        lambda cache=None, include_site_packages=False, progress=None: site)
    cfg = ec.DataConfig(source="codexglue", path=str(cx), languages=["ruby"], builtin_train=True, oversample=4)
    splits = session.load_splits(cfg, Dist(), lambda kind, **kw: None)
    assert [e.added for e in splits[("ruby", "train")]] == [False]
    assert [e.added for e in splits[("python", "train")]] == [True, True]
    train = [e for (lang, split), exs in sorted(splits.items()) if split == "train" for e in exs]
    assert [(e.language, r) for e, r in zip(train, session.train_repeats(train, 4))] == \
        [("python", 1), ("python", 1), ("ruby", 4)]


def test_oversample_without_an_added_corpus_is_valid_and_changes_nothing():
    cfg = ec.preset("smoke")
    assert cfg.data.oversample > 1 and cfg.data.site_packages_train
    cfg.data.site_packages_train = False                 # smoke on the standard library alone stays valid
    assert ec.validate(cfg) == []
    assert session.train_repeats([ex(0, "a"), ex(1, "b")], cfg.data.oversample) is None


def test_the_bpe_counts_oversampled_texts_as_often_as_an_epoch_sees_them(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(session, "train_bpe", lambda texts, vocab: seen.append(list(texts)) or _Tok())
    own = [ex(0, "def own")]
    added = [data.Example(idx=1, language="python", source="def site", target="site", code="", path="",
                          func_name="f", added=True)]
    splits = {("python", "train"): own + added, ("python", "valid"): [ex(2, "def v")]}
    cfg = ec.RunConfig()
    cfg.data.site_packages_train, cfg.data.oversample = True, 3
    session.make_tokenizer(cfg, splits, tmp_path, Dist())
    assert sorted(seen[-1]) == sorted(["def own", "summary 0"] * 3 + ["def site", "site"])
    cfg.data.oversample = 1                                            # off: every training text once
    session.make_tokenizer(cfg, splits, tmp_path, Dist())
    assert seen[-1] == ["def own", "summary 0", "def site", "site"]


class _Tok:
    def save_pretrained(self, folder):
        pass
