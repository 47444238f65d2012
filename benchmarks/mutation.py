"""Benchmark: the mutation score of the default suites against the virtual EVSE's firmware.

    sudo .venv/bin/python benchmarks/mutation.py [--n 100] [--seed 1] [--rev HEAD] [--files evse-server.js,...]
                                                 [--timeout S] [--judgments FILE] [--out FILE] [--set KEY=VALUE]...
                                                 [--ids ID,...] [--skip-checks]
    .venv/bin/python benchmarks/mutation.py --list

A small tokenizer (strings, template literals, regular expressions and comments are single tokens or skipped, so
nothing inside them is ever mutated) lists the mutation sites of the firmware sources (``virtual_evse/src``: the
Energy EVSE behaviour; ``main.js``, ``config.js`` and ``export-paa.js``, start-up and CLI glue, only with ``--files``).
One mutant is one change:

* ``relational`` (``<`` to ``>=``, ``===`` to ``!==``, ...) and ``off-by-one`` (``<`` to ``<=``, ``>`` to ``>=``, ...);
* ``arithmetic`` (binary ``+ - * / %``, ``+=``/``-=``, ``++``/``--``), ``logical`` (``&&``/``||``);
* ``boolean`` (``true``/``false``), ``constant`` (a number n to n+1, n-1, 0);
* ``negate`` (an ``if``/``while`` condition c to ``!(c)``), ``not-dropped`` (``!x`` to ``x``);
* ``statement-dropped`` (an expression statement removed: a call, an ``emit``, an assignment),
  ``return-value-dropped`` (``return x;`` to ``return;``), ``swap-args`` (``f(a, b)`` to ``f(b, a)``).

The sources are copied once, from the working tree or a git revision (``--rev HEAD``); a random sample of N sites
(``--seed``: the same sample for the same sources) is run, each mutant in a scratch copy of ``virtual_evse/`` under
the temporary folder (its sources copied, ``node_modules`` a symlink) started through rig.yaml's
``virtual_evse.firmware``: ``node --check`` first (a mutant that does not parse is ``invalid``), then ``rig run`` as
``make run`` runs it, with pytest's ``-x`` (the first failing case ends the run) and a timeout. Outcome: ``killed``
(a case failed: the first one is named), ``killed-startup`` (exit 3: the DUT did not start or could not be
commissioned), ``killed-timeout``, ``survived``, ``invalid`` or ``error`` (the run itself failed, exit 2). Before
the sample, two checks: the unchanged copy passes (else every mutant would look killed) and a copy with a syntax
error fails start-up (else the run would not be running the copy).

Every survivor's diff is written to a review file (``--out``) with room for a judgment; a survivor judged equivalent
in the judgments file (``--judgments``, YAML or JSON: ``mutant id: "equivalent: reason"``) leaves the score, which is
killed / (killed + survived), every kind of kill counted as killed and invalid / error mutants left out.
Mutant ids hash the file, the line's text, the column and the change, so a judgment stays with its mutant while
other lines of the file change.
"""

from __future__ import annotations

import argparse
import bisect
import difflib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVSE_DIR = ROOT / "virtual_evse"
SRC = EVSE_DIR / "src"
DEFAULT_FILES = (
    "evse-server.js",
    "targets.js",
    "triggers.js",
    "device.js",
    "hardware-port.js",
    "store.js",
    "runtime.js",
)
"""The Energy EVSE behaviour; main.js, config.js (start-up and configuration glue) and export-paa.js are left out."""
DEFAULT_OUT = ROOT / "reports" / "mutation" / "survivors.md"
DEFAULT_JUDGMENTS = ROOT / "benchmarks" / "mutation-judgments.yaml"
EXIT_STARTUP = 3
"""``rig run``'s exit code when the DUT could not be started, reached or commissioned."""
STOP_GRACE_S = 60.0
"""After a timeout: how long ``rig run`` gets after SIGTERM to tear its sandbox down before SIGKILL."""


# ------------------------------------------------------------------------------------------------- tokenizer
@dataclass(frozen=True)
class Token:
    """One significant token: ``kind`` is ident, num, str, template, regex or punct; [start, end) in the source."""

    kind: str
    text: str
    start: int
    end: int


# fmt: off
PUNCTUATORS = sorted(
    [
        ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "?.", "=>", "==", "!=", "<=",
        ">=", "&&", "||", "??", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", "{", "}",
        "(", ")", "[", "]", ";", ",", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "?", ":", "=", ".",
        "@",
    ],
    key=len,
    reverse=True,
)
"""JavaScript's punctuators, the longest first (the scanner takes the longest match)."""
OPERATOR_WORDS = frozenset(
    ["return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else", "yield",
     "await"]
)
"""Words after which an expression starts (so ``/`` begins a regular expression and ``+``/``-`` are unary)."""
STATEMENT_WORDS = frozenset(
    ["const", "let", "var", "function", "class", "if", "for", "while", "do", "switch", "try", "return", "throw",
     "break", "continue", "import", "export", "async", "default", "case", "else", "yield", "static", "get", "set"]
)
"""Words that start a statement which is not an expression statement."""
# fmt: on
NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+n?|0[oO][0-7_]+n?|0[bB][01_]+n?|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?n?"
)
IDENT = re.compile(r"#?[A-Za-z_$][\w$]*")


class TokenizeError(ValueError):
    """The source could not be tokenized (an unterminated string, template, comment or regular expression)."""


def tokenize(src: str) -> list[Token]:
    """The significant tokens of a JavaScript module; comments and white space are dropped."""
    tokens, _ = _scan(src, 0, in_template=False)
    return tokens


def _scan(src: str, i: int, *, in_template: bool) -> tuple[list[Token], int]:
    """Tokens from ``i``; with ``in_template``, up to the ``}`` closing a template's ``${``, returning after it."""
    tokens: list[Token] = []
    depth = 0
    n = len(src)
    if i == 0 and src.startswith("#!"):
        i = src.find("\n") if "\n" in src else n
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise TokenizeError(f"unterminated comment at offset {i}")
            i = j + 2
        elif c in "'\"":
            j = _string_end(src, i)
            tokens.append(Token("str", src[i:j], i, j))
            i = j
        elif c == "`":
            j = _template_end(src, i)
            tokens.append(Token("template", src[i:j], i, j))
            i = j
        elif c == "/" and _expression_expected(tokens):
            j = _regex_end(src, i)
            tokens.append(Token("regex", src[i:j], i, j))
            i = j
        elif (m := NUMBER.match(src, i)) and (c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit())):
            tokens.append(Token("num", m.group(), i, m.end()))
            i = m.end()
        elif m := IDENT.match(src, i):
            tokens.append(Token("ident", m.group(), i, m.end()))
            i = m.end()
        else:
            p = next((p for p in PUNCTUATORS if src.startswith(p, i)), None)
            if p is None:
                raise TokenizeError(f"unexpected character {c!r} at offset {i}")
            if p == "{":
                depth += 1
            elif p == "}":
                if in_template and depth == 0:
                    return tokens, i + 1
                depth -= 1
            tokens.append(Token("punct", p, i, i + len(p)))
            i += len(p)
    if in_template:
        raise TokenizeError("unterminated ${ in a template literal")
    return tokens, n


def _string_end(src: str, i: int) -> int:
    quote, j = src[i], i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == quote:
            return j + 1
        elif src[j] == "\n":
            break
        else:
            j += 1
    raise TokenizeError(f"unterminated string at offset {i}")


def _template_end(src: str, i: int) -> int:
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == "`":
            return j + 1
        elif src.startswith("${", j):
            _, j = _scan(src, j + 2, in_template=True)
        else:
            j += 1
    raise TokenizeError(f"unterminated template literal at offset {i}")


def _regex_end(src: str, i: int) -> int:
    j, in_class = i + 1, False
    while j < len(src) and src[j] != "\n":
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == "[":
            in_class = True
        elif src[j] == "]":
            in_class = False
        elif src[j] == "/" and not in_class:
            j += 1
            while j < len(src) and (src[j].isalnum() or src[j] == "_"):
                j += 1
            return j
        j += 1
    raise TokenizeError(f"unterminated regular expression at offset {i}")


def _expression_expected(tokens: list[Token]) -> bool:
    """Whether an operand comes next (not an operator): after an operator, an opening bracket or a keyword."""
    if not tokens:
        return True
    prev = tokens[-1]
    if prev.kind == "punct":
        return prev.text not in (")", "]", "}")
    return prev.kind == "ident" and prev.text in OPERATOR_WORDS


def _is_operand_end(tok: Token | None) -> bool:
    """Whether ``tok`` ends an operand, so that an operator after it is binary."""
    if tok is None:
        return False
    if tok.kind == "punct":
        return tok.text in (")", "]")
    return not (tok.kind == "ident" and tok.text in OPERATOR_WORDS)


# --------------------------------------------------------------------------------------------------- mutants
@dataclass(frozen=True)
class Mutant:
    """One change: ``source[start:end]`` (``original``) becomes ``replacement`` in ``file``."""

    file: str
    start: int
    end: int
    original: str
    replacement: str
    operator: str
    line: int
    id: str = ""

    def apply(self, source: str) -> str:
        """The mutated source."""
        assert source[self.start : self.end] == self.original, "the source changed under the mutant"
        return source[: self.start] + self.replacement + source[self.end :]

    def diff(self, source: str) -> str:
        """The change as a unified diff (paths as in the repository, one line of context)."""
        path = f"virtual_evse/src/{self.file}"
        lines = difflib.unified_diff(
            source.splitlines(keepends=True),
            self.apply(source).splitlines(keepends=True),
            f"a/{path}",
            f"b/{path}",
            n=1,
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


RELATIONAL = {
    "<": (("<=", "off-by-one"), (">=", "relational")),
    "<=": (("<", "off-by-one"), (">", "relational")),
    ">": ((">=", "off-by-one"), ("<=", "relational")),
    ">=": ((">", "off-by-one"), ("<", "relational")),
    "===": (("!==", "relational"),),
    "!==": (("===", "relational"),),
    "==": (("!=", "relational"),),
    "!=": (("==", "relational"),),
}
ARITHMETIC_BINARY = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*"}
ARITHMETIC_ASSIGN = {"+=": "-=", "-=": "+=", "*=": "/=", "/=": "*=", "++": "--", "--": "++"}
LOGICAL = {"&&": "||", "||": "&&"}
BOOLEAN = {"true": "false", "false": "true"}
NON_CALLEES = frozenset(["if", "while", "for", "switch", "catch", "function", "return", "typeof", "await", "new"])


def _matching(tokens: list[Token], k: int) -> int:
    """Index of the bracket closing the one at ``k``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opener, closer, depth = tokens[k].text, pairs[tokens[k].text], 0
    for j in range(k, len(tokens)):
        if tokens[j].kind != "punct":
            continue
        if tokens[j].text == opener:
            depth += 1
        elif tokens[j].text == closer:
            depth -= 1
            if depth == 0:
                return j
    raise TokenizeError(f"unbalanced {opener!r} at offset {tokens[k].start}")


def _number_value(text: str) -> int | float | None:
    if text.endswith("n"):  # BigInt
        return None
    clean = text.replace("_", "")
    try:
        return int(clean, 0) if clean[:2].lower() in ("0x", "0o", "0b") or clean.isdigit() else float(clean)
    except ValueError:
        return None


def _number_text(value: float) -> str:
    text = str(int(value)) if float(value).is_integer() else repr(value)
    return f"({text})" if value < 0 else text


def _statement_end(tokens: list[Token], k: int) -> int | None:
    """Index of the ``;`` ending the expression statement that starts at ``k``, or None if it is not one."""
    first = tokens[k]
    if first.kind != "ident" or first.text in STATEMENT_WORDS:
        return None
    j = k
    while j < len(tokens):
        t = tokens[j]
        if t.kind == "punct":
            if t.text == ";":
                return j
            if t.text in ("(", "["):
                j = _matching(tokens, j)
            elif t.text == "{":
                if tokens[j - 1].text == ")":  # a method or function body: not an expression statement
                    return None
                j = _matching(tokens, j)
            elif t.text in (")", "]", "}"):
                return None
        j += 1
    return None


def _statement_position(tokens: list[Token], k: int) -> str | None:
    """How a statement at ``k`` is removed: "" (after ``;``, ``{``, ``}``), ";" (the body of an ``if``/``else``/loop
    without braces, which keeps an empty statement), None if ``k`` is not where a statement starts."""
    if k == 0:
        return ""
    prev = tokens[k - 1]
    if prev.kind == "punct" and prev.text in (";", "{", "}"):
        return ""
    if prev.kind == "ident" and prev.text == "else":
        return ";"
    if prev.kind == "punct" and prev.text == ")":
        depth = 0
        for j in range(k - 1, -1, -1):
            t = tokens[j]
            if t.kind == "punct" and t.text == ")":
                depth += 1
            elif t.kind == "punct" and t.text == "(":
                depth -= 1
                if depth == 0:
                    return ";" if j > 0 and tokens[j - 1].text in ("if", "while", "for") else None
    return None


def mutants_of(file: str, source: str) -> list[Mutant]:
    """Every mutant of one source file, in source order."""
    tokens = tokenize(source)
    line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
    found: list[tuple[int, int, str, str]] = []  # start, end, replacement, operator

    def add(a: Token, b: Token, replacement: str, operator: str) -> None:
        found.append((a.start, b.end, replacement, operator))

    skip_until = -1
    for k, t in enumerate(tokens):
        prev = tokens[k - 1] if k else None
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        if k <= skip_until:
            continue
        if t.kind == "ident" and t.text == "import" and (prev is None or prev.text in (";", "}")):
            skip_until = next((j for j in range(k, len(tokens)) if tokens[j].text == ";"), len(tokens))
            continue
        if t.kind == "punct":
            if t.text in RELATIONAL:
                for replacement, operator in RELATIONAL[t.text]:
                    add(t, t, replacement, operator)
            elif t.text in ARITHMETIC_BINARY and _is_operand_end(prev):
                add(t, t, ARITHMETIC_BINARY[t.text], "arithmetic")
            elif t.text in ARITHMETIC_ASSIGN:
                add(t, t, ARITHMETIC_ASSIGN[t.text], "arithmetic")
            elif t.text in LOGICAL:
                add(t, t, LOGICAL[t.text], "logical")
            elif t.text == "!" and nxt is not None and nxt.text != "!" and not _is_operand_end(prev):
                add(t, t, "", "not-dropped")
            elif t.text == "(" and prev is not None and prev.kind == "ident" and prev.text not in NON_CALLEES:
                close = _matching(tokens, k)
                before = tokens[k - 2] if k >= 2 else None
                after = tokens[close + 1] if close + 1 < len(tokens) else None
                simple = close == k + 4 and tokens[k + 2].text == ","
                a, b = tokens[k + 1], tokens[k + 3]
                if (
                    simple
                    and all(x.kind in ("ident", "num", "str") and x.text not in OPERATOR_WORDS for x in (a, b))
                    and a.text != b.text
                    and (before is None or before.text != "function")
                    and (after is None or after.text not in ("{", "=>"))
                ):
                    found.append((a.start, b.end, b.text + source[a.end : b.start] + a.text, "swap-args"))
            continue
        if t.kind == "num":
            value = _number_value(t.text)
            if value is None or (prev is not None and prev.text in ("{", ",") and nxt is not None and nxt.text == ":"):
                continue
            seen = {value}
            for new in (value + 1, value - 1, 0 if value != 0 else 1):
                if new not in seen:
                    seen.add(new)
                    add(t, t, _number_text(new), "constant")
            continue
        if t.kind != "ident":
            continue
        if t.text in BOOLEAN and not (prev is not None and prev.text in (".", "?.")):
            add(t, t, BOOLEAN[t.text], "boolean")
        if t.text in ("if", "while") and nxt is not None and nxt.text == "(" and (prev is None or prev.text != "."):
            close = _matching(tokens, k + 1)
            inner_a, inner_b = tokens[k + 2], tokens[close - 1]
            text = source[inner_a.start : inner_b.end]
            add(inner_a, inner_b, f"!({text})", "negate")
        if t.text == "return" and nxt is not None and nxt.text not in (";", "}"):
            end = _statement_end_after(tokens, k + 1)
            if end is not None:
                found.append((t.end, tokens[end].start, "", "return-value-dropped"))
        how = _statement_position(tokens, k)
        if how is not None:
            end = _statement_end(tokens, k)
            if end is not None:
                found.append((t.start, tokens[end].end, how, "statement-dropped"))

    mutants: list[Mutant] = []
    ids: Counter[str] = Counter()
    for start, end, replacement, operator in sorted(set(found)):
        line = bisect.bisect_right(line_starts, start)
        line_start = line_starts[line - 1]
        line_end = source.find("\n", line_start)
        line_text = source[line_start : line_end if line_end >= 0 else len(source)]
        indent = len(line_text) - len(line_text.lstrip())
        key = f"{file}|{operator}|{line_text.strip()}|{start - line_start - indent}|{end - start}|{replacement}"
        ident = "M" + hashlib.sha1(key.encode()).hexdigest()[:8]
        ids[ident] += 1
        if ids[ident] > 1:  # the same change on an identical line: numbered in source order
            ident = f"{ident}-{ids[ident]}"
        mutants.append(Mutant(file, start, end, source[start:end], replacement, operator, line, ident))
    return mutants


def _statement_end_after(tokens: list[Token], k: int) -> int | None:
    """Index of the ``;`` ending the expression that starts at ``k`` (brackets skipped), or None."""
    j = k
    while j < len(tokens):
        t = tokens[j]
        if t.kind == "punct":
            if t.text == ";":
                return j
            if t.text in ("(", "[", "{"):
                j = _matching(tokens, j)
            elif t.text in (")", "]", "}"):
                return None
        j += 1
    return None


def sample(mutants: list[Mutant], n: int, seed: int) -> list[Mutant]:
    """``n`` mutants drawn at random (all of them if there are fewer); the same for the same mutants and seed."""
    ordered = sorted(mutants, key=lambda m: (m.file, m.start, m.end, m.replacement, m.operator))
    return random.Random(seed).sample(ordered, min(n, len(ordered)))


# ------------------------------------------------------------------------------------------------------ runs
@dataclass
class Outcome:
    """What a run of the suites against one firmware copy gave."""

    outcome: str
    """killed, killed-startup, killed-timeout, survived, invalid or error."""
    seconds: float
    detail: str = ""
    """The case that killed it (id and step), or why the mutant is invalid or the run failed."""


KILLED = ("killed", "killed-startup", "killed-timeout")


class Workspace:
    """Scratch copies of ``virtual_evse/`` under one temporary folder, all made from one snapshot of the sources."""

    def __init__(self, files: list[str], rev: str | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rig-mutation-"))
        self.rev = rev
        names = (
            [p.name for p in SRC.glob("*.js")]
            if rev is None
            else _git("ls-tree", "--name-only", f"{rev}:virtual_evse/src").split()
        )
        self.snapshot = {name: self._read(f"src/{name}") for name in sorted(names) if name.endswith(".js")}
        self.extra = {name: self._read(name) for name in ("package.json", "defects.json")}
        self.files = files
        self.count = 0

    def tree(self, name: str, changed: dict[str, str]) -> Path:
        """A copy of ``virtual_evse/`` with the snapshot's sources, ``changed`` replacing some; its ``src`` folder."""
        top = self.root / name / "virtual_evse"
        (top / "src").mkdir(parents=True)
        for file, text in self.extra.items():
            (top / file).write_text(text, encoding="utf-8")
        (top / "node_modules").symlink_to(EVSE_DIR / "node_modules")
        for file, text in self.snapshot.items():
            (top / "src" / file).write_text(changed.get(file, text), encoding="utf-8")
        return top / "src"

    def _read(self, path: str) -> str:
        """A file of ``virtual_evse/`` as in the working tree, or at :attr:`rev`."""
        if self.rev is None:
            return (EVSE_DIR / path).read_text(encoding="utf-8")
        return _git("show", f"{self.rev}:virtual_evse/{path}")

    def remove(self, src: Path) -> None:
        """Remove one copy (its reports are summarised already)."""
        shutil.rmtree(src.parents[1], ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def node_check(path: Path) -> str | None:
    """None if ``node --check`` accepts the file, else its message."""
    proc = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode == 0:
        return None
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return next((ln for ln in lines if "Error" in ln), lines[-1] if lines else f"exit {proc.returncode}")


def run_suites(src: Path, timeout_s: float, overrides: list[str], log_path: Path) -> Outcome:
    """``rig run`` (the default suites, pytest ``-x``) against the firmware in ``src``; its outcome."""
    reports = src.parents[1] / "reports"
    cmd = [
        sys.executable,
        "-m",
        "rig.cli",
        "run",
        "--set",
        f"virtual_evse.firmware={src}",
        "--set",
        f"report.dir={reports}",
        "--set",
        f"report.database={reports / 'results.sqlite'}",
        *[a for o in overrides for a in ("--set", o)],
    ]
    env = {k: v for k, v in os.environ.items() if k != "RIG_RESULTS_DB"}  # never the lab's results database
    # pytest's -x (the first failing case ends the run) through its environment: `rig run PATHS -- ARGS` hands the
    # arguments after -- to argparse's suite paths, not to pytest
    env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} -x".strip()
    t0 = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # rig run tears its sandbox down on SIGTERM
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return Outcome("killed-timeout", time.monotonic() - t0, f"no end within {timeout_s:.0f} s")
    seconds = time.monotonic() - t0
    if code == 0:
        return Outcome("survived", seconds)
    if code == 1:
        return Outcome("killed", seconds, _first_failure(reports))
    if code == EXIT_STARTUP:
        return Outcome("killed-startup", seconds, _log_reason(log_path))
    return Outcome("error", seconds, f"rig run exit {code}: {_log_reason(log_path)}")


def _first_failure(reports: Path) -> str:
    """The first failed case of the run's record: its id and failed step."""
    try:
        record = json.loads((reports / "latest" / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "(no report.json)"
    for case in record.get("cases", []):
        if case.get("outcome") not in ("passed", "skipped"):
            step = case.get("failed_step")
            return f"{case.get('id')}" + (f" step {step}" if step else "") + f" ({case.get('outcome')})"
    return "(no failed case in the record)"


def _log_reason(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    rig_lines = [ln for ln in lines if ln.startswith("rig:") and "error" in ln.lower()]
    return (rig_lines or lines or ["(no output)"])[-1][:200]


# ---------------------------------------------------------------------------------------------------- output
def load_judgments(path: Path | None) -> dict[str, str]:
    """Mutant id -> judgment (a string starting with "equivalent" excludes the survivor from the score)."""
    if path is None or not path.exists():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of mutant id to judgment")
    return {str(k): str(v) for k, v in data.items() if v}


def is_equivalent(judgment: str | None) -> bool:
    return judgment is not None and judgment.strip().lower().startswith("equivalent")


def write_survivors(path: Path, survivors: list[tuple[Mutant, str]], judgments: dict[str, str], header: str) -> None:
    """The review file: each survivor's diff and the judgment line to fill (or the judgment given)."""
    out = [
        "# Mutation survivors",
        "",
        header,
        "",
        "For each survivor: does the change alter what a controller or the bench can observe? If not, it is "
        'equivalent; add `ID: "equivalent: reason"` to the judgments file (YAML). Otherwise a case is missing.',
        "",
    ]
    for mutant, diff in survivors:
        out += [
            f"## {mutant.id}: {mutant.file}:{mutant.line} ({mutant.operator})",
            "",
            "```diff",
            diff.rstrip("\n"),
            "```",
            "",
            f'{mutant.id}: "{judgments.get(mutant.id, "")}"   # equivalent: <reason> | not equivalent: <missing check>',
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")


def _fmt(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    return f"{statistics.mean(seconds):.1f} s mean, {statistics.median(seconds):.1f} s median (n={len(seconds)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="sample size (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    ap.add_argument("--files", default=",".join(DEFAULT_FILES), help="comma-separated files of virtual_evse/src")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run (default 3x the unchanged run)")
    ap.add_argument("--list", action="store_true", help="list the mutation sites and their counts, run nothing")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"review file (default {DEFAULT_OUT})")
    ap.add_argument("--judgments", type=Path, default=DEFAULT_JUDGMENTS, help="mutant id -> judgment (YAML/JSON)")
    ap.add_argument("--rev", help="mutate the firmware of this git revision (default: the working tree), e.g. HEAD")
    ap.add_argument("--ids", default="", help="comma-separated mutant ids to run instead of a sample")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="rig.yaml override for rig run")
    ap.add_argument("--skip-checks", action="store_true", help="skip the unchanged-copy and start-up-breaker runs")
    args = ap.parse_args()

    files = [f.strip() for f in args.files.split(",") if f.strip()]
    ws = Workspace(files, args.rev)
    try:
        missing = [f for f in files if f not in ws.snapshot]
        if missing:
            raise SystemExit(f"not in virtual_evse/src: {', '.join(missing)}")
        _main(args, ws, files)
    finally:
        ws.close()


def _main(args: argparse.Namespace, ws: Workspace, files: list[str]) -> None:
    digest = hashlib.sha256("".join(ws.snapshot[f] for f in files).encode()).hexdigest()[:12]
    everything = [m for f in files for m in mutants_of(f, ws.snapshot[f])]
    by_id = {m.id: m for m in everything}
    print(f"mutation sites: {len(everything)} in {len(files)} files (sources sha256 {digest})")
    if args.list:
        for m in everything:
            print(f"  {m.id:<12} {m.file}:{m.line:<5} {m.operator:<21} {m.original!r} -> {m.replacement!r}"[:160])
        for what, counter in (
            ("per file", Counter(m.file for m in everything)),
            ("per operator", Counter(m.operator for m in everything)),
        ):
            print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))
        return
    if os.geteuid() != 0:
        raise SystemExit("rig run needs root: run this as root (sudo .venv/bin/python benchmarks/mutation.py ...)")
    if args.ids:
        unknown = [i for i in args.ids.split(",") if i not in by_id]
        if unknown:
            raise SystemExit(f"unknown mutant ids: {', '.join(unknown)}")
        chosen = [by_id[i] for i in args.ids.split(",")]
    else:
        chosen = sample(everything, args.n, args.seed)
    judgments = load_judgments(args.judgments)
    t_start = time.monotonic()
    timeout = args.timeout if args.timeout is not None else 600.0

    baseline_s: float | None = None
    if not args.skip_checks:
        src = ws.tree("unchanged", {})
        base = run_suites(src, args.timeout or 1800.0, args.set, src.parents[1] / "rig-run.log")
        print(f"check: the unchanged copy: {base.outcome} in {base.seconds:.1f} s {base.detail}")
        if base.outcome != "survived":
            raise SystemExit(
                "the suites fail on the unchanged firmware (every mutant would look killed): fix that first"
            )
        baseline_s = base.seconds
        timeout = args.timeout if args.timeout is not None else max(180.0, 3 * base.seconds)
        ws.remove(src)
        breaker = "evse-server.js" if "evse-server.js" in ws.snapshot else files[0]
        src = ws.tree("breaker", {breaker: ws.snapshot[breaker] + "\nexport const = ;\n"})
        smoke = run_suites(src, timeout, args.set, src.parents[1] / "rig-run.log")
        print(f"check: a start-up breaker (syntax error in {breaker}): {smoke.outcome} in {smoke.seconds:.1f} s")
        if smoke.outcome != "killed-startup":
            raise SystemExit(
                "a firmware copy with a syntax error did not fail start-up: the run is not running the copy"
            )
        ws.remove(src)
    print(f"running {len(chosen)} mutants (seed {args.seed}), timeout {timeout:.0f} s each")

    results: list[tuple[Mutant, Outcome]] = []
    for i, m in enumerate(chosen, 1):
        src = ws.tree(f"{i:04d}-{m.id}", {m.file: m.apply(ws.snapshot[m.file])})
        t0 = time.monotonic()
        problem = node_check(src / m.file)
        if problem is not None:
            res = Outcome("invalid", time.monotonic() - t0, problem)
        else:
            res = run_suites(src, timeout, args.set, src.parents[1] / "rig-run.log")
        results.append((m, res))
        print(
            f"{i:>4} {m.id:<12} {m.file}:{m.line:<5} {m.operator:<21} {res.outcome:<15} {res.seconds:6.1f} s  "
            f"{res.detail}",
            flush=True,
        )
        ws.remove(src)
    total_s = time.monotonic() - t_start

    survivors = [m for m, r in results if r.outcome == "survived"]
    equivalent = [m for m in survivors if is_equivalent(judgments.get(m.id))]
    counts = Counter(r.outcome for _, r in results)
    killed = sum(counts[k] for k in KILLED)
    live = len(survivors) - len(equivalent)
    header = (
        f"Sources {args.rev or 'working tree'} sha256 {digest}, files {', '.join(files)}; seed {args.seed}, "
        f"{len(chosen)} mutants of {len(everything)} sites."
    )
    write_survivors(args.out, [(m, m.diff(ws.snapshot[m.file])) for m in survivors], judgments, header)

    print()
    print(header)
    print(
        f"killed {killed} (a case failed {counts['killed']}, at start-up {counts['killed-startup']}, "
        f"timeout {counts['killed-timeout']}); survived {live}; equivalent (judged) {len(equivalent)}; "
        f"invalid {counts['invalid']}; error {counts['error']}"
    )
    for m in equivalent:
        print(f"  equivalent {m.id} {m.file}:{m.line} ({m.operator}): {judgments[m.id]}")
    unjudged = [m for m in survivors if m.id not in judgments]
    if unjudged:
        print(f"  {len(unjudged)} survivors not judged yet: {args.out}")
    score = killed / (killed + live) if killed + live else float("nan")
    print(f"mutation score: {killed} / {killed + live} = {100 * score:.1f} %")
    per_run = [r.seconds for _, r in results if r.outcome != "invalid"]
    print(f"time: {total_s / 60:.1f} min in all; per mutant run {_fmt(per_run)}")
    for kind in ("survived", *KILLED):
        print(f"  {kind}: {_fmt([r.seconds for _, r in results if r.outcome == kind])}")
    if baseline_s is not None:
        print(f"  the unchanged copy: {baseline_s:.1f} s (what every survivor costs)")
    if per_run:
        print(f"estimate for N=100: {100 * statistics.mean(per_run) / 60:.0f} min at this sample's mean per mutant")


if __name__ == "__main__":
    main()
