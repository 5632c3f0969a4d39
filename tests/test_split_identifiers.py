"""data.split_identifiers: multi-word identifiers in the code become lower-case words (the summaries' words), in
every split, before the tokenizer is trained; summaries and the stored code stay as they were."""
import json

import pytest

from engine import data, session
from engine.contract import config as ec
from engine.distributed import Dist


@pytest.mark.parametrize("src, want", [
    ("def get_file_name ( self ) :", "def get file name ( self ) :"),
    ("x = parseHTTPResponse ( resp )", "x = parse http response ( resp )"),
    ("class HTTPServer2 ( Base ) :", "class http server 2 ( Base ) :"),
    ("MAX_LEN = 3 ; DEBUG = 1", "max len = 3 ; DEBUG = 1"),               # one all-caps word stays
    ("def __init__ ( self , _private ) :", "def __init__ ( self , _private ) :"),  # one word: unchanged
    ('s = "a_b" + \'camelCase\'', 's = "a_b" + \'camelCase\''),          # literals untouched
    ("a += b_c [ 0 ] . d", "a += b c [ 0 ] . d"),
])
def test_split_identifiers(src, want):
    assert data.split_identifiers(src) == want


def test_load_splits_splits_sources_of_every_split_and_nothing_else(tmp_path):
    for split in ("train", "valid", "test"):
        p = tmp_path / "ruby" / f"{split}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"code": "def to_snake_case(x) end", "code_tokens": ["def", "to_snake_case", "(",
                                 "x", ")", "end"], "docstring_tokens": ["Converts", "to_snake_case"]}) + "\n")
    cfg = ec.RunConfig()
    for k, v in {"data.source": "codexglue", "data.path": str(tmp_path), "data.languages": ["ruby"]}.items():
        ec.set_value(cfg, k, v)
    plain = session.load_splits(cfg.data, Dist(), lambda *a, **k: None)
    ec.set_value(cfg, "data.split_identifiers", True)
    split = session.load_splits(cfg.data, Dist(), lambda *a, **k: None)
    for key, examples in split.items():
        (e,), (p,) = examples, plain[key]
        assert p.source == "def to_snake_case ( x ) end"
        assert e.source == "def to snake case ( x ) end"
        assert e.target == p.target == "Converts to_snake_case"       # the summary is the reference: untouched
        assert e.code == p.code == "def to_snake_case(x) end"         # what the Samples view shows
