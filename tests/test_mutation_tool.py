"""benchmarks/mutation.py's mutator: the sites it finds, what it never touches, its diffs and its sampling."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rig_mutation_benchmark", ROOT / "benchmarks" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mutation = _load()

SOURCE = """\
import { a, b } from "./x.js";
// a comment: if (x < 1) return true;
/* block: y + 2 && z */
const MAX = 10;
export function check(n, m) {
    const s = "n < 3 || true";
    const t = `total ${n + 1} of ${MAX}`;
    const re = /a+b*[/]/g;
    if (n < MAX && m >= 0) fail(m, n);
    else log("over");
    n += 2;
    emit(n);
    return n * 2 === m ? false : !m;
}
"""


def _ops(source: str) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for m in mutation.mutants_of("x.js", source):
        found.setdefault(m.operator, []).append((m.original, m.replacement))
    return found


def test_every_operator_finds_its_sites() -> None:
    ops = _ops(SOURCE)
    assert ("<", "<=") in ops["off-by-one"] and (">=", ">") in ops["off-by-one"]
    assert ("<", ">=") in ops["relational"] and ("===", "!==") in ops["relational"]
    assert ("*", "/") in ops["arithmetic"] and ("+=", "-=") in ops["arithmetic"]
    assert ops["logical"] == [("&&", "||")]
    assert ops["boolean"] == [("false", "true")]
    assert {("10", "11"), ("10", "9"), ("10", "0"), ("2", "3"), ("2", "1"), ("0", "1")} <= set(ops["constant"])
    assert ("0", "(-1)") in ops["constant"]  # a negative value is parenthesised: `x >= -1`, never `x >=-1` mishaps
    assert ops["negate"] == [("n < MAX && m >= 0", "!(n < MAX && m >= 0)")]
    assert ops["not-dropped"] == [("!", "")]
    assert ops["swap-args"] == [("m, n", "n, m")]
    assert ops["return-value-dropped"] == [(" n * 2 === m ? false : !m", "")]
    dropped = dict(ops["statement-dropped"])
    assert dropped == {"fail(m, n);": ";", 'log("over");': ";", "n += 2;": "", "emit(n);": ""}


def test_strings_comments_templates_regexes_and_imports_are_never_mutated() -> None:
    protected = [
        (m.start(), m.end())
        for m in re.finditer(r'"[^"\n]*"|`[^`]*`|//[^\n]*|/\*.*?\*/|/a\+b\*\[/\]/g|^import[^\n]*', SOURCE, re.M | re.S)
    ]
    assert len(protected) == 7  # the import, two comments, two strings, the template, the regular expression
    for m in mutation.mutants_of("x.js", SOURCE):
        inside = [p for p in protected if p[0] <= m.start < p[1] or p[0] < m.end <= p[1]]
        # a whole statement may be dropped with its string argument; nothing may change inside a literal
        assert not inside or m.operator == "statement-dropped", (m, inside)


def test_the_declaration_of_a_function_is_not_a_call() -> None:
    ops = _ops("function f(a, b) { return a; }\nconst g = (a, b) => a;\nclass K { m(a, b) { x(); } }\n")
    assert "swap-args" not in ops
    assert dict(ops["statement-dropped"]) == {"x();": ""}


def test_each_mutant_is_one_change_with_a_valid_unified_diff() -> None:
    mutants = mutation.mutants_of("x.js", SOURCE)
    assert len({m.id for m in mutants}) == len(mutants)
    original_lines = SOURCE.splitlines()
    for m in mutants:
        mutated = m.apply(SOURCE)
        assert mutated != SOURCE
        diff = m.diff(SOURCE).splitlines()
        assert diff[0] == "--- a/virtual_evse/src/x.js" and diff[1] == "+++ b/virtual_evse/src/x.js"
        hunks = [line for line in diff if line.startswith("@@")]
        assert len(hunks) == 1, m
        start, length = (int(x) for x in re.match(r"@@ -(\d+),?(\d*)", hunks[0]).groups(default="1"))  # type: ignore[union-attr]
        body = diff[3:]
        old = [line[1:] for line in body if not line.startswith("+")]
        new = [line[1:] for line in body if not line.startswith("-")]
        assert old == original_lines[start - 1 : start - 1 + length]
        assert "\n".join(new) in mutated
        assert SOURCE.count("\n") - mutated.count("\n") == m.original.count("\n") - m.replacement.count("\n")
        assert original_lines[m.line - 1] in diff_lines_removed(body)


def diff_lines_removed(body: list[str]) -> list[str]:
    return [line[1:] for line in body if line.startswith("-")]


def test_ids_stay_when_other_lines_change() -> None:
    before = {(m.line, m.original, m.replacement): m.id for m in mutation.mutants_of("x.js", SOURCE)}
    after = {
        (m.line - 1, m.original, m.replacement): m.id
        for m in mutation.mutants_of("x.js", "const EXTRA = 1;\n" + SOURCE)
        if m.line > 1
    }
    assert before == after


def test_sampling_is_deterministic_for_a_seed() -> None:
    mutants = mutation.mutants_of("x.js", SOURCE)
    first = [m.id for m in mutation.sample(mutants, 5, seed=7)]
    assert first == [m.id for m in mutation.sample(list(reversed(mutants)), 5, seed=7)]
    assert first != [m.id for m in mutation.sample(mutants, 5, seed=8)]
    assert len(mutation.sample(mutants, 10_000, seed=7)) == len(mutants)


@pytest.mark.parametrize("name", mutation.DEFAULT_FILES)
def test_the_firmware_sources_tokenize_and_have_sites(name: str) -> None:
    source = (mutation.SRC / name).read_text(encoding="utf-8")
    tokens = mutation.tokenize(source)
    assert all(a.end <= b.start for a, b in itertools.pairwise(tokens))
    assert mutation.mutants_of(name, source)


def test_unterminated_literals_are_refused() -> None:
    for bad in ('const s = "open;\n', "const t = `open ${x};", "/* open"):
        with pytest.raises(mutation.TokenizeError):
            mutation.tokenize(bad)


def test_judgments_mark_equivalent_survivors(tmp_path: Path) -> None:
    path = tmp_path / "judgments.yaml"
    path.write_text('Mabc: "equivalent: a log line only"\nMdef: "not equivalent: no case reads it"\nMghi: ""\n')
    judged = mutation.load_judgments(path)
    assert judged == {"Mabc": "equivalent: a log line only", "Mdef": "not equivalent: no case reads it"}
    assert mutation.is_equivalent(judged["Mabc"]) and not mutation.is_equivalent(judged["Mdef"])
