"""engine.corpus: the built-in code/docstring corpus from Python sources."""
import json
import time
from collections import Counter

import pytest

from engine import corpus, data
from engine.contract import paths
from engine.contract.paths import SPLITS
from engine.corpus import builtin, filters, pipeline, python_extractor

ALPHA = '''\
"""Module docstring."""
import os


@staticmethod
def add(a, b):
    """Add two numbers together.

    More text here, http://example.com in a later paragraph is fine.
    """
    # a comment line
    return a + b  # trailing comment


def no_doc(x):
    return x


class Box:
    """A box."""

    def get(self, key, default=None):
        """Return the value stored under key."""
        return self.items.get(key, default)

    async def fetch(self):
        """Fetch the content
        from the remote store.
        """
        data = await self.load(
            # comment inside brackets
            "x")
        return data

    def link(self):
        """See https://example.com for the details."""
        return 1 + 2

    def html(self):
        """Render as <b>bold</b> text please."""
        return "<b>"

    def short(self):
        """Short."""
        return None

    def test_something(self):
        """Check that it works."""
        assert True

    def stub(self):
        """Do nothing at all here."""


def outer():
    """Make an inner function."""
    def inner(y):
        """Double the given value y."""
        return y * 2
    return inner


def non_english():
    """Возвращает значение из кэша."""
    return 1


def menu(price="5€"):
    """Return the café menu with prices."""  # ünïcode comment
    return {"café": price}


class Tiny:
    def one(self, x): "Return x plus one now."; return x + 1  # a one-liner
'''

BETA = '''\
def add(a, b):
    """Add two numbers together."""
    # another comment, same code and summary: a duplicate
    return a + b
'''

EXPECTED = {  # func_name -> (summary tokens, code)
    "add": (["Add", "two", "numbers", "together", "."], "def add(a, b):\n    return a + b"),
    "Box.get": (["Return", "the", "value", "stored", "under", "key", "."],
                "def get(self, key, default=None):\n    return self.items.get(key, default)"),
    "Box.fetch": (["Fetch", "the", "content", "from", "the", "remote", "store", "."],
                  'async def fetch(self):\n    data = await self.load(\n        "x")\n    return data'),
    "outer": (["Make", "an", "inner", "function", "."],
              'def outer():\n    def inner(y):\n        """Double the given value y."""\n        return y * 2\n'
              '    return inner'),
    "outer.inner": (["Double", "the", "given", "value", "y", "."], "def inner(y):\n    return y * 2"),
    "menu": (["Return", "the", "café", "menu", "with", "prices", "."],
             'def menu(price="5€"):\n    return {"café": price}'),
    "Tiny.one": (["Return", "x", "plus", "one", "now", "."], "def one(self, x):  return x + 1"),
}


def write_tree(root):
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "alpha.py").write_text(ALPHA, encoding="utf-8")
    (root / "pkg" / "beta.py").write_text(BETA, encoding="utf-8")
    (root / "pkg" / "broken.py").write_text('def f(:\n    """Broken file here."""\n', encoding="utf-8")
    (root / "pkg" / "latin.py").write_bytes(b'def g():\n    """Caf\xe9 au lait for all."""\n    return 1\n')
    for skipped_dir in ("tests", "__pycache__", "site-packages"):
        (root / skipped_dir).mkdir()
        (root / skipped_dir / "x.py").write_text('def h(a):\n    """Never read at all."""\n    return a\n')
    (root / "pkg" / "notes.txt").write_text("not python")
    return root


def all_rows(out):
    rows = []
    for split in SPLITS:
        with open(out / "python" / f"{split}.jsonl", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.fixture
def built(tmp_path):
    src = write_tree(tmp_path / "src")
    out = tmp_path / "out"
    manifest = corpus.build_corpus([(src, "fixture")], out, source="fixture")
    return src, out, manifest


def test_pairs_are_exact(built):
    _, out, _ = built
    rows = all_rows(out)
    got = {r["func_name"]: (r["docstring_tokens"], r["code"]) for r in rows}
    assert got == EXPECTED
    add = next(r for r in rows if r["func_name"] == "add")
    assert add["code_tokens"] == ["def", "add", "(", "a", ",", "b", ")", ":", "return", "a", "+", "b"]
    assert add["path"] == "pkg/alpha.py" and add["repo"] == "fixture" and add["language"] == "python"
    assert add["original_string"].startswith('def add(a, b):\n    """Add two numbers together.\n')
    assert "# a comment line" in add["original_string"]
    assert add["docstring"].startswith("Add two numbers together.\n\nMore text here")
    fetch = next(r for r in rows if r["func_name"] == "Box.fetch")
    assert fetch["code_tokens"][:5] == ["async", "def", "fetch", "(", "self"]
    assert '"x"' in fetch["code_tokens"] and not any(t.startswith("#") for r in rows for t in r["code_tokens"])
    assert all(r["partition"] == pipeline.split_of(r["path"]) for r in rows)


def test_filter_counts(built):
    _, _, manifest = built
    assert manifest["skipped"] == {
        "no_docstring": 1, "test_function": 1, "summary_url": 1, "summary_html": 1, "summary_too_short": 1,
        "docstring_only": 1, "summary_not_english": 1, "duplicate": 1, "file_syntax_error": 1,
        "file_bad_encoding": 1,
    }
    assert sum(manifest["counts"].values()) == len(EXPECTED)
    assert manifest["files"] == 4  # alpha, beta, broken, latin: the skipped folders are never read
    assert manifest["builder_version"] == pipeline.BUILDER_VERSION and manifest["source"] == "fixture"


def test_build_is_deterministic_and_atomic(built, tmp_path):
    src, out, _ = built
    out2 = tmp_path / "out2"
    corpus.build_corpus([(src, "fixture")], out2, source="fixture")
    for split in SPLITS:
        a = (out / "python" / f"{split}.jsonl").read_bytes()
        assert a == (out2 / "python" / f"{split}.jsonl").read_bytes()
    assert json.loads((out / "manifest.json").read_text())["counts"] == corpus.build_corpus(
        [(src, "fixture")], out, source="fixture")["counts"]
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_split_is_by_path_and_readable_by_data(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    names = {}
    i = 0
    while len(names) < 3:  # one file per split
        names.setdefault(pipeline.split_of(f"m{i}.py"), f"m{i}.py")
        i += 1
    for split, name in names.items():
        (src / name).write_text(f'def f_{split}(a):\n    """Compute the {split} value."""\n    return a + 1\n')
    progress = []
    manifest = corpus.build_corpus([(src, "r")], tmp_path / "out", progress=lambda d, n: progress.append((d, n)))
    assert manifest["counts"] == {"train": 1, "valid": 1, "test": 1}
    assert progress[-1] == (3, 3)
    loaded = data.load_corpus(tmp_path / "out", ["python"])
    for split in SPLITS:
        (ex,), rep = loaded[("python", split)]
        assert ex.source == f"def f_{split} ( a ) : return a + 1"
        assert ex.target == f"Compute the {split} value ."
        assert ex.path == f"r/{names[split]}" and rep.skipped == 0
    assert data.find_languages(tmp_path / "out") == ["python"]


def test_extract_pairs_crlf_tabs_and_unicode_names():
    text = 'class A:\r\n\tdef naïve(self, a):\r\n\t\t"""Return the naïve result of a."""\r\n\t\treturn a  # c\r\n'
    skipped = Counter()
    (row,) = python_extractor.extract_pairs(text, "a.py", "r", skipped)
    assert row["func_name"] == "A.naïve"
    assert row["code"] == "def naïve(self, a):\n\treturn a"
    assert row["code_tokens"] == ["def", "naïve", "(", "self", ",", "a", ")", ":", "return", "a"]
    assert row["docstring_tokens"] == ["Return", "the", "naïve", "result", "of", "a", "."]
    assert not skipped


def test_summary_helpers():
    assert filters.summary_of("First line\n  goes on.\n\n  Second.") == "First line goes on."
    assert filters.docstring_tokens("can't use flatten, (x) foo_bar.") == ["can", "t", "use", "flatten", "(", "x",
                                                                         ")", "foo_bar", "."]
    assert filters.summary_problem("Send an HTTP request now.", ["Send", "an", "HTTP", "request", "now", "."]) is None
    assert filters.summary_problem("Return a < b and c > d.", list("abcdef")) is None
    assert filters.summary_problem("Visit www.python.org now.", list("abcdef")) == "summary_url"


def test_default_dir_and_ensure(tmp_path, monkeypatch):
    monkeypatch.setenv("CRAM_CACHE_DIR", str(tmp_path / "cache"))
    d = paths.builtin_corpus_dir()
    assert d.parent == tmp_path / "cache" / "corpus" and d.name.startswith("stdlib-py3")
    assert paths.builtin_corpus_dir(include_site_packages=True).name == d.name + "-site"
    assert paths.builtin_corpus_dir(cache_dir=tmp_path / "c2") == tmp_path / "c2" / "corpus" / d.name

    src = write_tree(tmp_path / "src")
    monkeypatch.setattr(builtin, "stdlib_roots", lambda site=False: [(src, "python-stdlib")])
    builds = []
    real_build = builtin.build_corpus
    monkeypatch.setattr(builtin, "build_corpus", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    folder = corpus.ensure_builtin_corpus()
    assert folder == d and len(builds) == 1
    assert corpus.ensure_builtin_corpus() == d and len(builds) == 1  # cached
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["builder_version"] = -1
    (d / "manifest.json").write_text(json.dumps(manifest))
    corpus.ensure_builtin_corpus()
    assert len(builds) == 2  # rebuilt for a new builder
    (d / "manifest.json").unlink()  # an interrupted build leaves no manifest
    corpus.ensure_builtin_corpus()
    assert len(builds) == 3


def test_real_stdlib_corpus(tmp_path):
    t0 = time.monotonic()
    manifest = corpus.build_stdlib_corpus(tmp_path)
    seconds = time.monotonic() - t0
    total = sum(manifest["counts"].values())
    assert 3000 <= total <= 8000, manifest["counts"]
    assert seconds < 30
    paths = {}
    for split in SPLITS:
        with open(tmp_path / "python" / f"{split}.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        assert len(rows) == manifest["counts"][split] > 0
        assert all(r["partition"] == split and r["repo"] == "python-stdlib" for r in rows)
        paths[split] = {r["path"] for r in rows}
    assert not paths["train"] & paths["valid"]
    assert not paths["train"] & paths["test"]
    assert not paths["valid"] & paths["test"]
    assert not any("/test/" in p or p.startswith(("test/", "site-packages/")) for s in paths.values() for p in s)
    # engine.data reads it back in full
    loaded = data.load_corpus(tmp_path, ["python"])
    assert sum(rep.n for _, rep in loaded.values()) == total
    assert all(rep.skipped == 0 for _, rep in loaded.values())
