"""engine.corpus (tree-sitter extractor, registry): code/summary pairs from java, javascript, go, php, ruby
(and python) source trees; engine.contract.lengths: length statistics of a corpus folder."""
import json
import sysconfig

import pytest

from engine import corpus, data
from engine.contract import paths
from engine.contract.lengths import length_stats
from engine.contract.paths import SPLITS
from engine.corpus import filters, pipeline, registry
from engine.corpus import treesitter_extractor as tx
from engine.corpus.treesitter_specs import SPECS
from engine.tasks import Cancelled

# -- the fixture trees: per language the files, the expected pairs and the expected skip counts --------------------
CALC_JAVA = '''\
package com.ex;

import java.util.List;

/** A calculator. */
public class Calc {
    /**
     * Adds two numbers and returns the sum.
     *
     * @param a the first
     * @param b the second
     * @return the sum
     */
    public int add(int a, int b) {
        // add them
        return a + b; /* trailing block */
    }

    public int noDoc(int a) {
        return a;
    }

    /**
     * Returns the {@link List} size, or zero when the list is null.
     * @param items the list
     */
    @Override
    public static int size(List<String> items) {
        return items == null ? 0 : items.size(); // null safe
    }

    /** Checks the adder works fine. */
    public void testAdd() {
        assert add(1, 2) == 3;
    }

    /** Short. */
    int tiny() { return 1; }

    interface Shape {
        /** Computes the area of the shape. */
        double area();
    }

    /** Creates a calculator with the given name. */
    Calc(String name) {
        this.name = "calc:" + name;
    }
}
'''

BROKEN_JAVA = '''\
public class Broken {
    /** Returns one as an integer value. */
    int one() { return 1; }

    /** Returns two but is broken here. */
    int two() { return 2 +; }
}
'''

UTIL_JS = '''\
'use strict';

/**
 * Adds two numbers together and returns the result.
 * @param {number} a
 */
function add(a, b) {
  // plain addition
  return a + b;
}

function noDoc(x) {
  return x;
}

class Stack {
  /**
   * Pushes an item on top of the stack.
   */
  push(item) {
    this.items.push(item); // keep order
  }
}

/** Formats the greeting for a user name. */
const greet = (name) => `Hello ${name}!`;

/** Exports the parser factory function. */
export function makeParser(opts) {
  return new Parser(opts, /a+b/g);
}

module.exports = {
  /** Returns the version string of the library. */
  version: function () { return '1.0'; },
};
'''

BROKEN_JS = '''\
/** Returns one as a number value. */
function one() { return 1; }

/** Returns two but is broken here. */
function two() { return 2 +; }
'''

MATHX_GO = '''\
package mathx

import "fmt"

// Add returns the sum of a and b.
//
// It never overflows in tests.
func Add(a, b int) int {
	// simple
	return a + b
}

func noDoc() int { return 1 }

// Point is a point.
type Point struct{ X, Y int }

// String formats the point as a pair.
//go:noinline
func (p *Point) String() string {
	return fmt.Sprintf("(%d, %d)", p.X, p.Y) // pair
}

// Scale multiplies both coordinates by k.

func (p Point) Scale(k int) Point { return Point{p.X * k, p.Y * k} }
'''

BROKEN_GO = '''\
package mathx

// One returns one as an int value.
func One() int { return 1 }

// Two returns two but is broken here.
func Two() int { return 2 + }
'''

CART_PHP = '''\
<?php
namespace Shop;

/**
 * Computes the total price of all items.
 *
 * @param array $items
 */
function total(array $items): float
{
    $sum = 0.0; // running sum
    foreach ($items as $item) {
        # hash comment
        $sum += $item->price;
    }
    return $sum;
}

class Cart
{
    /** Adds an item to the cart contents. */
    public function add($item)
    {
        $this->items[] = $item;
        return "added {$item->name}";
    }

    public function count() { return count($this->items); }

    /** Removes every item from the cart. */
    abstract protected function clear();
}
'''

BROKEN_PHP = '''\
<?php
/** Returns one as an integer value. */
function one() { return 1; }

/** Returns two but is broken here. */
function two() { return 2 +; }
'''

CART_RB = '''\
# frozen_string_literal: true

module Shop
  class Cart
    # Adds an item to the cart
    # and returns the cart.
    #
    # @param item [Item]
    def add(item)
      # store it
      @items << item
      self
    end

    def size
      @items.size
    end

    # Builds an empty cart for the given user.
    def self.empty(user) = new(user, []) # endless

    # :nodoc:
    def internal_helper_method; 42; end

    # Returns a greeting for the named customer.
    private def greet(name)
      "Hello #{name}" # interpolated
    end
  end
end
'''

BROKEN_RB = '''\
# Returns one as an integer value.
def one
  1
end

# Returns two but is broken here.
def two
  puts )
end
'''

BAD_FILES = {  # name -> content; each is skipped and counted by reason
    "blob": (b"\x00\x01\x02binary\x00data" * 10, "file_binary"),
    "huge": (b"// padding line\n" * 70_000, "file_too_large"),   # 1.1 MB
    "latin": ("caf\xe9 = 1\n".encode("latin-1"), "file_bad_encoding"),
}
EXT = {"java": ".java", "javascript": ".js", "go": ".go", "php": ".php", "ruby": ".rb"}

TREES = {
    "java": {
        "files": {"src/main/java/com/ex/Calc.java": CALC_JAVA, "src/main/java/com/ex/Broken.java": BROKEN_JAVA,
                  "src/main/java/com/ex/Copy.java": "class Copy {\n" + CALC_JAVA.split("public class Calc {\n")[1]
                  .split("    public int noDoc")[0] + "}\n",
                  "src/test/java/com/ex/CalcTest.java": "class CalcTest {\n  /** Never read at all. */\n"
                                                          "  void check() { run(1); }\n}\n"},
        "pairs": {
            "Calc.add": ("Adds two numbers and returns the sum .",
                         "public int add(int a, int b) {\n    return a + b;\n}",
                         "public int add ( int a , int b ) { return a + b ; }"),
            "Calc.size": ("Returns the List size or zero when the list is null .",
                          "@Override\npublic static int size(List<String> items) {\n"
                          "    return items == null ? 0 : items.size();\n}",
                          "@ Override public static int size ( List < String > items ) { return items == null ? 0 : "
                          "items . size ( ) ; }"),
            "Calc.Calc": ("Creates a calculator with the given name .",
                          'Calc(String name) {\n    this.name = "calc:" + name;\n}',
                          'Calc ( String name ) { this . name = "calc:" + name ; }'),
            "Broken.one": ("Returns one as an integer value .", "int one() { return 1; }",
                           "int one ( ) { return 1 ; }"),
        },
        "skipped": {"no_docstring": 1, "test_function": 1, "summary_too_short": 1, "no_body": 1, "syntax_error": 1,
                    "duplicate": 1},
    },
    "javascript": {
        "files": {"lib/util.js": UTIL_JS, "lib/broken.js": BROKEN_JS, "lib/util.test.js": "/** Never read. */\n"
                  "function t() { return 1; }\n", "dist/util.min.js": "function a(){return 1}\n",
                  "dist/bundle.js": "var x = [" + ",".join(["1"] * 6000) + "];\n"},
        "pairs": {
            "add": ("Adds two numbers together and returns the result .", "function add(a, b) {\n  return a + b;\n}",
                    "function add ( a , b ) { return a + b ; }"),
            "Stack.push": ("Pushes an item on top of the stack .", "push(item) {\n  this.items.push(item);\n}",
                           "push ( item ) { this . items . push ( item ) ; }"),
            "greet": ("Formats the greeting for a user name .", "const greet = (name) => `Hello ${name}!`;",
                      "const greet = ( name ) => `Hello ${name}!` ;"),
            "makeParser": ("Exports the parser factory function .",
                           "function makeParser(opts) {\n  return new Parser(opts, /a+b/g);\n}",
                           "function makeParser ( opts ) { return new Parser ( opts , /a+b/g ) ; }"),
            "version": ("Returns the version string of the library .", "version: function () { return '1.0'; }",
                        "version : function ( ) { return '1.0' ; }"),
            "one": ("Returns one as a number value .", "function one() { return 1; }",
                    "function one ( ) { return 1 ; }"),
        },
        "skipped": {"no_docstring": 1, "syntax_error": 1, "file_minified": 1},
    },
    "go": {
        "files": {"mathx/mathx.go": MATHX_GO, "mathx/broken.go": BROKEN_GO,
                  "mathx/mathx_test.go": "package mathx\n\n// TestAdd is never read.\nfunc TestAdd(t *T) { t.Run() }\n",
                  "mathx/gen.go": "// Code generated by stringer. DO NOT EDIT.\n\npackage mathx\n\n"
                                  "// Name returns the generated name.\nfunc Name() string { return \"x\" }\n",
                  "testdata/data.go": "package x\n\n// Never read at all.\nfunc F() int { return 1 }\n"},
        "pairs": {
            "Add": ("Add returns the sum of a and b .", "func Add(a, b int) int {\n\treturn a + b\n}",
                    "func Add ( a , b int ) int { return a + b }"),
            "Point.String": ("String formats the point as a pair .",
                             'func (p *Point) String() string {\n\treturn fmt.Sprintf("(%d, %d)", p.X, p.Y)\n}',
                             'func ( p * Point ) String ( ) string { return fmt . Sprintf ( "(%d, %d)" , p . X , '
                             'p . Y ) }'),
            "One": ("One returns one as an int value .", "func One() int { return 1 }",
                    "func One ( ) int { return 1 }"),
        },
        "skipped": {"no_docstring": 2, "syntax_error": 1, "file_generated": 1},
    },
    "php": {
        "files": {"src/Cart.php": CART_PHP, "src/broken.php": BROKEN_PHP},
        "pairs": {
            "total": ("Computes the total price of all items .",
                      "function total(array $items): float\n{\n    $sum = 0.0;\n    foreach ($items as $item) {\n"
                      "        $sum += $item->price;\n    }\n    return $sum;\n}",
                      "function total ( array $ items ) : float { $ sum = 0.0 ; foreach ( $ items as $ item ) { "
                      "$ sum += $ item -> price ; } return $ sum ; }"),
            "Cart.add": ("Adds an item to the cart contents .",
                         'public function add($item)\n{\n    $this->items[] = $item;\n    return "added {$item->name}";'
                         '\n}',
                         'public function add ( $ item ) { $ this -> items [ ] = $ item ; return "added {$item->name}" '
                         '; }'),
            "one": ("Returns one as an integer value .", "function one() { return 1; }",
                    "function one ( ) { return 1 ; }"),
        },
        "skipped": {"no_docstring": 1, "no_body": 1, "syntax_error": 1},
    },
    "ruby": {
        "files": {"lib/shop/cart.rb": CART_RB, "lib/shop/broken.rb": BROKEN_RB,
                  "lib/shop/cart_spec.rb": "# Never read at all.\ndef it_works\n  1\nend\n",
                  "spec/helper.rb": "# Never read at all.\ndef helper\n  1\nend\n"},
        "pairs": {
            "Shop.Cart.add": ("Adds an item to the cart and returns the cart .",
                              "def add(item)\n  @items << item\n  self\nend",
                              "def add ( item ) @items << item self end"),
            "Shop.Cart.empty": ("Builds an empty cart for the given user .", "def self.empty(user) = new(user, [])",
                                "def self . empty ( user ) = new ( user , [ ] )"),
            "Shop.Cart.greet": ("Returns a greeting for the named customer .",
                                'def greet(name)\n  "Hello #{name}"\nend', 'def greet ( name ) "Hello #{name}" end'),
            "one": ("Returns one as an integer value .", "def one\n  1\nend", "def one 1 end"),
        },
        "skipped": {"no_docstring": 1, "summary_too_short": 1, "syntax_error": 1},
    },
}
FILES_READ = {"java": 6, "javascript": 6, "go": 6, "php": 5, "ruby": 5}   # the 3 bad files included


def grammar_or_skip(language):
    spec = SPECS[language]
    pytest.importorskip("tree_sitter", reason="the tree-sitter package is not installed")
    pytest.importorskip(spec.module, reason=f"the {spec.package} grammar package is not installed")


def write_tree(root, language):
    for rel, text in TREES[language]["files"].items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for name, (content, _) in BAD_FILES.items():
        (root / "bad").mkdir(exist_ok=True)
        (root / "bad" / f"{name}{EXT[language]}").write_bytes(content)
    (root / ".git").mkdir()
    (root / ".git" / f"hidden{EXT[language]}").write_text("never read")
    return root


def all_rows(out, language):
    rows = []
    for split in SPLITS:
        with open(out / language / f"{split}.jsonl", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.fixture(params=list(TREES))
def built(request, tmp_path):
    language = request.param
    grammar_or_skip(language)
    src = write_tree(tmp_path / "src", language)
    progress = []
    manifest = corpus.build_source_corpus(src, language, tmp_path / "out", progress=lambda *a: progress.append(a))
    return language, src, tmp_path / "out", manifest, progress


def test_pairs_are_exact(built):
    language, _, out, _, _ = built
    rows = all_rows(out, language)
    got = {r["func_name"]: (" ".join(r["docstring_tokens"]), r["code"], " ".join(r["code_tokens"])) for r in rows}
    assert got == TREES[language]["pairs"]
    for r in rows:
        assert r["language"] == language and r["repo"] == "src" and r["partition"] == pipeline.split_of(r["path"])
        assert list(r) == ["repo", "path", "func_name", "original_string", "language", "code", "code_tokens",
                           "docstring", "docstring_tokens", "partition"]
        assert r["path"] in TREES[language]["files"]
        assert r["docstring"] and r["original_string"].startswith(r["code"].split("\n")[0].split("(")[0])


def test_comments_kept_only_in_original_string(built):
    language, _, out, _, _ = built
    rows = {r["func_name"]: r for r in all_rows(out, language)}
    commented = {"java": ("Calc.add", "// add them"), "javascript": ("add", "// plain addition"),
                 "go": ("Add", "// simple"), "php": ("total", "# hash comment"),
                 "ruby": ("Shop.Cart.add", "# store it")}
    name, comment = commented[language]
    assert comment in rows[name]["original_string"] and comment not in rows[name]["code"]
    assert comment.split()[-1] not in rows[name]["code_tokens"] and comment not in rows[name]["code_tokens"]


def test_skips_are_counted_by_reason(built):
    language, _, _, manifest, progress = built
    expected = dict(TREES[language]["skipped"])
    expected.update({why: 1 for _, why in BAD_FILES.values()})
    assert manifest["skipped"] == dict(sorted(expected.items()))
    assert manifest["files"] == FILES_READ[language]   # test files, hidden and test folders are not read
    assert manifest["files_with_syntax_errors"] == 1
    assert sum(manifest["counts"].values()) == len(TREES[language]["pairs"])
    assert manifest["language"] == language and manifest["parser"] == "tree-sitter"
    assert manifest["builder_version"] == pipeline.BUILDER_VERSION and manifest["source"].endswith("src")
    assert manifest["grammar"].startswith(SPECS[language].package)
    assert manifest["filters"]["summary_tokens"] == [3, 256] and manifest["filters"]["max_file_bytes"] == 1_000_000
    assert progress[-1][:2] == (manifest["files"], manifest["files"]) and all(len(p) == 3 for p in progress)


def test_deterministic_split_by_path_and_readable(built, tmp_path):
    language, src, out, manifest, _ = built
    again = corpus.build_source_corpus(src, language, tmp_path / "again")
    for split in SPLITS:
        assert (out / language / f"{split}.jsonl").read_bytes() == \
            (tmp_path / "again" / language / f"{split}.jsonl").read_bytes()
    assert again["counts"] == manifest["counts"] and again["skipped"] == manifest["skipped"]
    assert data.find_languages(out) == [language]
    total = 0
    for split in SPLITS:
        examples, report = data.scan_split(data.split_path(out, language, split), language, split)
        assert report.skipped == 0 and report.n == manifest["counts"][split]
        total += report.n
        for ex in examples:
            assert ex.path.startswith("src/") and pipeline.split_of(ex.path[4:]) == split
    assert total == len(TREES[language]["pairs"])
    assert not [p for p in out.rglob("*.tmp")]


def test_one_pair_per_split_readable_by_load_corpus(tmp_path):
    grammar_or_skip("go")
    src = tmp_path / "src"
    src.mkdir()
    names, i = {}, 0
    while len(names) < 3:
        names.setdefault(pipeline.split_of(f"f{i}.go"), f"f{i}.go")
        i += 1
    for split, name in names.items():
        (src / name).write_text(f"package p\n\n// Compute the {split} value of x.\nfunc F{split}(x int) int {{\n"
                                f"\treturn x + 1\n}}\n")
    corpus.build_source_corpus(src, "go", tmp_path / "out")
    loaded = data.load_corpus(tmp_path / "out", ["go"])
    for split in SPLITS:
        (ex,), rep = loaded[("go", split)]
        assert ex.source == f"func F{split} ( x int ) int {{ return x + 1 }}"
        assert ex.target == f"Compute the {split} value of x ."


def test_cancel_and_errors(tmp_path, monkeypatch):
    grammar_or_skip("java")
    src = write_tree(tmp_path / "src", "java")
    with pytest.raises(Cancelled):
        corpus.build_source_corpus(src, "java", tmp_path / "out", cancel=lambda: True)
    assert not (tmp_path / "out" / "manifest.json").exists()
    with pytest.raises(corpus.SourceError, match="folder not found"):
        corpus.build_source_corpus(tmp_path / "nowhere", "java", tmp_path / "out")
    with pytest.raises(corpus.SourceError, match="unknown language 'cobol'"):
        corpus.build_source_corpus(src, "cobol", tmp_path / "out")
    with pytest.raises(corpus.SourceError, match=r"no ruby source file \(\.rb\)"):
        corpus.build_source_corpus(src, "ruby", tmp_path / "out")

    def missing(name):
        raise ImportError(f"No module named '{name}'")
    monkeypatch.setattr(tx, "import_module", missing)
    with pytest.raises(corpus.SourceError, match="pip install tree-sitter tree-sitter-php"):
        registry.get_extractor("php")
    assert "tree-sitter-php" in corpus.available_languages()["php"] and corpus.available_languages()["python"] == ""


def test_python_goes_through_the_builtin_pipeline(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "m.py").write_text('def add(a, b):\n    """Add two numbers together."""\n    # c\n    return a + b\n'
                                      'def f(x):\n    return x\n')
    (src / "pkg" / "blob.py").write_bytes(b"\x00\x01binary")
    m = corpus.build_source_corpus(src, "python", tmp_path / "out", repo="fixture")
    corpus.build_corpus([(src, "fixture")], tmp_path / "ref")
    for split in SPLITS:
        assert (tmp_path / "out" / "python" / f"{split}.jsonl").read_bytes() == \
            (tmp_path / "ref" / "python" / f"{split}.jsonl").read_bytes()
    assert m["skipped"] == {"file_binary": 1, "no_docstring": 1} and m["parser"] == "ast+tokenize"


def test_stdlib_build_equals_builtin_corpus(stdlib_corpus, tmp_path):
    """`cram data build <stdlib> --language python` gives the pairs of the built-in corpus."""
    stdlib = sysconfig.get_paths()["stdlib"]
    m = corpus.build_source_corpus(stdlib, "python", tmp_path / "out", repo="python-stdlib")
    builtin = json.loads((stdlib_corpus / "manifest.json").read_text())
    assert m["counts"] == builtin["counts"] and m["skipped"] == builtin["skipped"]
    for split in SPLITS:
        assert (tmp_path / "out" / "python" / f"{split}.jsonl").read_bytes() == \
            (stdlib_corpus / "python" / f"{split}.jsonl").read_bytes()


def test_doc_summary_and_comment_cleaning():
    assert tx.clean_block_comment("/**\n   * First line\n   *   goes on.\n   *\n   * @param x y\n   */") == \
        "First line\ngoes on.\n\n@param x y"
    assert tx.doc_summary("First line\ngoes on.\n\nSecond.") == "First line goes on."
    assert tx.doc_summary("Does it.\n@return nothing") == "Does it."
    assert tx.doc_summary("@deprecated use other") == ""
    assert tx.doc_summary("<p>Intro text\nmore.\n<p>Next paragraph.") == "Intro text more."
    assert tx.doc_summary("See {@link Foo#bar(int, String) the bar} and {@link #baz}, {@code x < y}.") == \
        "See the bar and baz, x < y."
    assert filters.docstring_tokens(tx.doc_summary("Returns the {@linkplain List list}.")) == \
        ["Returns", "the", "list", "."]


def test_length_stats(tmp_path):
    root = tmp_path / "cxg"
    (root / "go").mkdir(parents=True)
    (root / "ruby").mkdir(parents=True)
    for lang, n in (("go", 40), ("ruby", 20)):
        for split in SPLITS:
            with open(root / lang / f"{split}.jsonl", "w") as fh:
                for i in range(1, n + 1):
                    fh.write(json.dumps({"code_tokens": ["t"] * i, "docstring_tokens": ["w"] * (i % 7 + 1)}) + "\n")
            if split == "valid":
                with open(root / lang / f"{split}.jsonl", "a") as fh:
                    fh.write("not json\n\n")
    s = length_stats(root)
    assert s["unit"] == "whitespace" and s["coverage"] == 0.95 and list(s["languages"]) == ["ruby", "go"]
    go = s["languages"]["go"]["train"]
    assert go["n"] == 40 and go["sampled"] == 0 and go["max_source_length"] == 38   # 38 of 1..40 = 95 %
    assert go["code"]["max"] == 40 and go["code"]["median"] == 20 and go["code"]["p95"] == 38
    assert sum(go["code"]["hist"]["counts"]) + go["code"]["hist"]["overflow"] == 40
    assert len(go["code"]["hist"]["edges"]) == len(go["code"]["hist"]["counts"]) + 1
    assert go["max_target_length"] == 7 and s["languages"]["ruby"]["valid"]["skipped"] == 1
    assert s["suggested"]["max_source_length"] == 37   # pooled train lengths: 60 examples, 57th shortest
    with_tok = length_stats(root, tokenizer=lambda text: text.split() * 2)
    assert with_tok["unit"] == "model" and with_tok["languages"]["go"]["train"]["max_source_length"] == 76
    sampled = length_stats(root, max_examples=10)["languages"]["go"]["train"]
    assert sampled["n"] == 40 and sampled["sampled"] == 10
    with pytest.raises(data.DataError, match="no split file"):
        length_stats(tmp_path)


def test_default_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("CRAM_CACHE_DIR", str(tmp_path / "cache"))
    d = paths.source_corpus_dir(tmp_path / "my-src", "go")
    assert d.parent == tmp_path / "cache" / "corpus" and d.name.startswith("my-src-go-") and len(d.name) == 18
    assert paths.source_corpus_dir(tmp_path / "other" / "my-src", "go") != d
    assert paths.codexglue_dir() == tmp_path / "cache" / "data" / "codexglue"
