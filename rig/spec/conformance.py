"""Conformance evaluation: what a cluster's FeatureMap (and the optional elements present) make of each element.

The Matter rules: an unconditional rule applies as is; ``mandatoryConform``/``optionalConform`` with an expression
apply only when the expression holds; an ``otherwiseConform`` list takes the first rule that applies; when no rule
applies the element is **disallowed**. Expressions name features (by code), other elements (present or not) and
conditions (supplied by the caller; unknown conditions are false).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rig.spec.model import Conformance, ConformKind, Expr


@dataclass(frozen=True)
class Context:
    """What conformance expressions are evaluated against.

    Attributes:
        features: feature codes supported (e.g. ``{"PREF", "V2X"}``).
        present: names of the optional elements present (attributes, commands, events, fields).
        conditions: named conditions (e.g. ``{"Zigbee": False}``); unknown ones are false.
    """

    features: frozenset[str] = frozenset()
    present: frozenset[str] = frozenset()
    conditions: Mapping[str, bool] | None = None

    @classmethod
    def of(
        cls, features: Iterable[str] = (), present: Iterable[str] = (), conditions: Mapping[str, bool] | None = None
    ) -> Context:
        """Build a context from any iterables."""
        return cls(frozenset(features), frozenset(present), dict(conditions or {}))


def holds(expr: Expr, ctx: Context) -> bool:
    """Evaluate a conformance expression."""
    if expr.op == "feature":
        return expr.name in ctx.features
    if expr.op in ("attribute", "command", "event", "field"):
        return expr.name in ctx.present
    if expr.op == "condition":
        return bool((ctx.conditions or {}).get(expr.name, False))
    values = [holds(t, ctx) for t in expr.terms]
    if expr.op == "and":
        return all(values)
    if expr.op == "or":
        return any(values)
    if expr.op == "xor":
        return sum(values) == 1
    if expr.op == "not":
        return not values[0]
    raise ValueError(f"unknown conformance operator {expr.op!r}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a conformance for one context.

    Attributes:
        kind: mandatory, optional, provisional, deprecated, disallowed or described (prose: not decidable here).
        rule: the rule that applied (None when none applied).
    """

    kind: ConformKind
    rule: Conformance | None = None

    @property
    def required(self) -> bool:
        """The element must be present."""
        return self.kind == "mandatory"

    @property
    def allowed(self) -> bool:
        """The element may be present."""
        return self.kind != "disallowed"

    @property
    def choice(self) -> tuple[str, bool] | None:
        """(choice group, more allowed) of the rule that applied, if it is part of a choice."""
        return (self.rule.choice, self.rule.more) if self.rule is not None and self.rule.choice else None


def evaluate(conformance: Conformance, ctx: Context) -> Verdict:
    """What ``conformance`` makes of an element in ``ctx``."""
    if conformance.kind == "otherwise":
        for rule in conformance.otherwise:
            if rule.kind == "otherwise":
                verdict = evaluate(rule, ctx)
                if verdict.rule is not None:
                    return verdict
            elif rule.expr is None or holds(rule.expr, ctx):
                return Verdict(rule.kind, rule)
        return Verdict("disallowed")
    if conformance.expr is None or holds(conformance.expr, ctx):
        return Verdict(conformance.kind, conformance)
    return Verdict("disallowed")


def declared_choices(conformance: Conformance) -> set[str]:
    """The choice groups a conformance names in any of its rules."""
    if conformance.kind == "otherwise":
        return set().union(*(declared_choices(c) for c in conformance.otherwise))
    return {conformance.choice} if conformance.choice else set()


def choice_problems(
    verdicts: Mapping[str, Verdict], present: Iterable[str], conformances: Mapping[str, Conformance] | None = None
) -> list[str]:
    """Check the choice groups (``O.a``: exactly one member present, ``O.a+``: at least one) among ``verdicts``.

    A group is the elements whose applied rule carries the choice; a present element that names the group in another
    rule of its conformance (e.g. ``M`` under a feature, otherwise ``O.a+``) satisfies it too, when ``conformances``
    are given.
    """
    have = set(present)
    groups: dict[str, tuple[bool, list[str]]] = {}
    for name, verdict in verdicts.items():
        if verdict.choice is not None:
            group, more = verdict.choice
            groups.setdefault(group, (more, []))[1].append(name)
    problems = []
    for group, (more, members) in sorted(groups.items()):
        others = [n for n, c in (conformances or {}).items() if n not in members and group in declared_choices(c)]
        n = sum(1 for m in members + others if m in have)
        if n == 0:
            problems.append(f"choice {group}: one of {', '.join(members)} must be present, none is")
        elif n > 1 and not more:
            problems.append(f"choice {group}: only one of {', '.join(members)} may be present, {n} are")
    return problems
