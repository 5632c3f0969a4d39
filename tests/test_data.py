"""engine.data: reading CodeXGLUE code-to-text .jsonl files robustly."""
import json
import os

import pytest

from conftest import SHARED
from engine import data
from engine.data import DataError


def row(code, doc, **extra):
    return {"repo": "o/r", "path": "a.rb", "func_name": "f", "code": " ".join(map(str, code)), "code_tokens": code,
            "docstring": " ".join(map(str, doc)), "docstring_tokens": doc, **extra}


def good(i):
    return json.dumps(row(["def", f"f{i}", "end"], ["Does", "thing", str(i), "."])).encode()


BAD_LINES = [
    (b"", "blank"),
    (b"   \t", "blank"),
    (b'{"code_tokens": ["a"], ', "bad_json"),
    (b"[1, 2, 3]", "not_object"),
    (json.dumps({"code_tokens": ["a", "b"]}).encode(), "missing_field"),
    (json.dumps(row(["a"], ["b"], code_tokens="def f end")).encode(), "bad_type"),
    (json.dumps(row(["a", 1], ["b"])).encode(), "bad_type"),
    (json.dumps(row(["a"], [])).encode(), "empty"),
    (json.dumps(row(["  ", "\n"], ["b"])).encode(), "empty"),
    (b'{"code_tokens": ["\xff\xfe"], "docstring_tokens": ["x"]}', "bad_utf8"),
]


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def messy(tmp_path):
    """good, then every kind of bad line, then good ones: line numbers are 1-based."""
    lines = [good(0)] + [b for b, _ in BAD_LINES] + [good(1), good(2)]
    return write_lines(tmp_path / "ruby" / "train.jsonl", lines)


def test_reads_good_lines_and_counts_bad_ones(messy):
    examples, rep = data.read_split(messy, "ruby", "train")
    assert [e.source for e in examples] == ["def f0 end", "def f1 end", "def f2 end"]
    assert examples[0].target == "Does thing 0 ."
    assert examples[0].language == "ruby"
    assert examples[0].path == "o/r/a.rb" and examples[0].func_name == "f" and examples[0].code == "def f0 end"
    # idx is the 0-based line number (as in the CodeXGLUE scripts), so it survives skipped lines
    assert [e.idx for e in examples] == [0, len(BAD_LINES) + 1, len(BAD_LINES) + 2]
    assert rep.n == 3 and rep.skipped == len(BAD_LINES)
    assert rep.reasons == {"blank": 2, "bad_json": 1, "not_object": 1, "missing_field": 1, "bad_type": 2,
                           "empty": 2, "bad_utf8": 1}
    assert rep.skipped_lines == list(range(2, 2 + data.MAX_SKIPPED_LINES))
    ev = rep.to_event()
    assert set(ev) == {"language", "split", "n", "skipped", "skipped_lines", "reasons", "path"}
    assert ev["path"] == str(messy) and ev["split"] == "train" and ev["n"] == 3
    json.dumps(ev)


def test_line_numbers_of_sparse_bad_lines(tmp_path):
    p = write_lines(tmp_path / "x.jsonl", [good(0), b"{", good(1), good(2), b"[]", good(3), b"\xc3\x28"])
    examples, rep = data.read_split(p, "go", "valid")
    assert len(examples) == 4
    assert rep.skipped_lines == [2, 5, 7]
    assert rep.reasons == {"bad_json": 1, "not_object": 1, "bad_utf8": 1}


def test_whitespace_is_collapsed_and_idx_field_wins(tmp_path):
    obj = row(["def", "f", "(", ")", "'a\n  b'"], ["Line", "\n", "two"], idx=17)
    obj.pop("code")
    obj.pop("repo")
    p = write_lines(tmp_path / "x.jsonl", [b"\xef\xbb\xbf" + json.dumps(obj).encode(), b"\r"])
    (ex,), rep = data.read_split(p, "python", "test")
    assert ex.source == "def f ( ) 'a b'"
    assert ex.target == "Line two"
    assert ex.idx == 17
    assert ex.code == ex.source and ex.path == "a.rb"
    assert rep.reasons == {"blank": 1}


def test_max_examples_keeps_the_first_usable(messy):
    examples, rep = data.read_split(messy, "ruby", "train", max_examples=2)
    assert [e.source for e in examples] == ["def f0 end", "def f1 end"]
    assert rep.n == 2


def test_missing_file_is_a_data_error(tmp_path):
    p = tmp_path / "ruby" / "train.jsonl"
    with pytest.raises(DataError) as e:
        data.read_split(p, "ruby", "train")
    assert str(p) in str(e.value) and "not found" in str(e.value) and "Hint" in str(e.value)
    with pytest.raises(ValueError):  # DataError is a ValueError
        data.read_split(tmp_path, "ruby", "train")


def test_no_usable_example_names_file_and_reasons(tmp_path):
    p = write_lines(tmp_path / "ruby" / "train.jsonl", [b"{oops"] * 1400)
    with pytest.raises(DataError) as e:
        data.read_split(p, "ruby", "train")
    msg = str(e.value)
    assert msg.startswith(f"{p}: no usable example (1400 lines skipped: bad_json 1400")
    assert "code_tokens" in msg  # the hint says what a line must hold
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        data.read_split(empty, "ruby", "train")


def make_tree(root, langs=("ruby", "go"), splits=data.SPLITS, n=3):
    for lang in langs:
        for split in splits:
            write_lines(root / lang / f"{split}.jsonl", [good(i) for i in range(n)])
    return root


def test_find_languages_needs_all_three_splits(tmp_path):
    make_tree(tmp_path, langs=("go", "ruby"))
    make_tree(tmp_path, langs=("java",), splits=("train", "valid"))
    (tmp_path / "klingon").mkdir()
    assert data.find_languages(tmp_path) == ["ruby", "go"]  # config.LANGUAGES order
    assert data.find_languages(tmp_path / "nowhere") == []


def test_load_corpus(tmp_path):
    make_tree(tmp_path, n=5)
    c = data.load_corpus(tmp_path, ["ruby", "go"], max_train=4, max_test=2)
    assert set(c) == {(lang, s) for lang in ("ruby", "go") for s in data.SPLITS}
    assert len(c[("ruby", "train")][0]) == 4
    assert len(c[("go", "valid")][0]) == 5
    assert len(c[("go", "test")][0]) == 2
    assert c[("go", "test")][1].language == "go"


def test_load_corpus_missing_split_names_the_path(tmp_path):
    make_tree(tmp_path, langs=("ruby",))
    (tmp_path / "ruby" / "test.jsonl").unlink()
    with pytest.raises(DataError) as e:
        data.load_corpus(tmp_path, ["ruby"])
    assert str(tmp_path / "ruby" / "test.jsonl") in str(e.value)
    with pytest.raises(DataError, match="folder not found"):
        data.load_corpus(tmp_path / "nope", ["ruby"])


def test_stats_and_table(tmp_path):
    make_tree(tmp_path, langs=("ruby",))
    write_lines(tmp_path / "go" / "valid.jsonl", [good(0), b"{", b""])
    rows = data.stats(tmp_path)
    assert [(r["language"], r["split"], r["n"], r["skipped"]) for r in rows if not r["problem"]] == [
        ("ruby", "train", 3, 0), ("ruby", "valid", 3, 0), ("ruby", "test", 3, 0), ("go", "valid", 1, 2)]
    assert [(r["language"], r["split"], r["problem"]) for r in rows if r["problem"]] == [
        ("go", "train", "missing"), ("go", "test", "missing")]
    assert [r for r in rows if not r["problem"]][-1]["path"] == str(tmp_path / "go" / "valid.jsonl")
    table = data.format_stats(rows)
    lines = table.splitlines()
    assert lines[0].split() == ["language", "split", "examples", "skipped", "path"]
    assert any(line.split()[:4] == ["total", "10", "2"] for line in lines)
    assert "bad_json 1" in table and "blank 1" in table
    # the numbers line up: every data row has its count ending in the same column
    ends = {line.index(" 3 ") for line in lines if line.startswith("ruby")}
    assert len(ends) == 1
    with pytest.raises(DataError):
        data.stats(tmp_path / "empty-dir-that-is-missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no split file"):
        data.stats(tmp_path / "empty")


def test_real_codexglue_ruby_valid():
    p = SHARED / "data" / "codexglue" / "ruby" / "valid.jsonl"
    if not p.is_file():
        pytest.skip(f"../shared not present (fresh clone): {p}")
    examples, rep = data.read_split(p, "ruby", "valid")
    assert rep.n == 1400 and rep.skipped == 0 and len(examples) == 1400
    first = examples[0]
    assert first.source.startswith("def preparse ( unparsed , args = [ ] , opts = { } )")
    assert first.target == "can t use flatten as it will flatten hashes"
    assert first.path == "travis-ci/travis.rb/lib/travis/cli.rb"
    assert first.func_name == "Travis.CLI.preparse"
    assert first.code.startswith("def preparse(unparsed")
    assert [e.idx for e in examples] == list(range(1400))


def test_a_lone_surrogate_is_bad_utf8_and_a_pair_is_fine(tmp_path):
    p = tmp_path / "x.jsonl"
    lone = b'{"code_tokens": ["def", "f"], "docstring_tokens": ["bad", "\\ud800"]}'
    pair = b'{"code_tokens": ["def", "f"], "docstring_tokens": ["smile", "\\ud83d\\ude00"]}'
    write_lines(p, [good(0), lone, pair])
    exs, rep = data.scan_split(p, "ruby", "train")
    assert rep.reasons == {"bad_utf8": 1} and rep.skipped_lines == [2]
    assert [e.target for e in exs][-1] == "smile \U0001F600"


def test_an_overlong_line_is_skipped_in_bounded_memory(tmp_path):
    p = tmp_path / "x.jsonl"
    huge = b'{"code_tokens": ["' + b"x" * 300_000 + b'"], "docstring_tokens": ["d"]}'
    write_lines(p, [good(0), huge, good(1)])
    exs, rep = data.scan_split(p, "ruby", "train", max_line_bytes=100_000)
    assert len(exs) == 2 and rep.reasons == {"too_long": 1} and rep.skipped_lines == [2]
    assert [e.idx for e in exs] == [0, 2]  # line numbers stay right after the skipped line


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.symlink_to(p.parent / "gone.jsonl"), "dangling symlink"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: os.mkfifo(p), "not a regular file"),
])
def test_stats_and_training_name_unusable_split_files(tmp_path, make, problem):
    make_tree(tmp_path, langs=("ruby",))
    (tmp_path / "ruby" / "valid.jsonl").unlink()
    make(tmp_path / "ruby" / "valid.jsonl")
    rows = data.stats(tmp_path)
    assert [r["problem"] for r in rows if r["split"] == "valid"][0].startswith(problem)
    assert problem in data.format_stats(rows)
    with pytest.raises(DataError, match=problem):  # never opened: a FIFO would block here
        data.load_corpus(tmp_path, ["ruby"])
