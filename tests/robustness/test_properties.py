"""Hypothesis properties of the parsers of user files: rig.yaml (with ``${RIG_*}`` substitution), the PICS text
and XML readers, and the run record loader. For any input they return a value or raise the rig's own error naming
the file; never another exception, never a hang."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.config import apply_overrides, load_config
from rig.errors import ConfigError
from rig.pics import KNOWN_EEVSE, load_pics, write_pics_text
from rig.report.record import RecordError, dumps_record, load_record
from rig.report.synthetic import make_record

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.sampled_from(["RIG_A", "RIG_B", "RIG_C", "RIG_", "HOME", "RIG_A_1"])
pieces = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["${", "}", ":-", "$", "{", "${RIG_", "${RIG_A", "${RIG_A}", "${RIG_B:-", "${HOME}"]),
    names.map(lambda n: "${" + n + "}"),
)
env_text = st.lists(pieces, max_size=12).map("".join)
environments = st.dictionaries(names, st.text(max_size=8), max_size=4)


@FAST
@given(text=env_text, env=environments)
def test_env_substitution_returns_a_string_or_a_config_error(text: str, env: dict[str, str]) -> None:
    try:
        out = apply_overrides({"v": text}, environ=env)["v"]
    except ConfigError as exc:
        assert str(exc).startswith("rig.yaml: v: ")
        return
    assert isinstance(out, str)
    if "${RIG_" not in text:
        assert out == text


@FAST
@given(value=st.text(max_size=20), env=environments)
def test_a_variable_s_value_is_used_as_it_is(value: str, env: dict[str, str]) -> None:
    env = {**env, "RIG_A": value}
    expected = value if value else None
    try:
        out = apply_overrides({"v": "<${RIG_A:-d}>", "w": "${RIG_A}"}, environ=env)
    except ConfigError:
        raise AssertionError("a set variable cannot fail") from None
    assert out["w"] == value
    assert out["v"] == f"<{expected if expected is not None else 'd'}>"


@FAST
@given(inner=env_text, env=environments)
def test_a_default_expands_as_its_text_would(inner: str, env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "RIG_C"}
    try:
        alone = apply_overrides({"v": inner}, environ=env)["v"]
    except ConfigError:
        return
    if "}" in inner:
        return  # a closing brace in the text ends the default early
    assert apply_overrides({"v": "${RIG_C:-" + inner + "}"}, environ=env)["v"] == alone


@FAST
@given(text=st.text(max_size=300))
def test_any_rig_yaml_text_loads_or_is_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rig.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path, environ={})
        except ConfigError as exc:
            assert "rig.yaml" in str(exc) or "problems" in str(exc)


@FAST
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace"))))
def test_any_pics_bytes_load_or_are_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pics.txt"
        path.write_bytes(data)
        try:
            pics = load_pics(path)
        except ConfigError as exc:
            assert "pics.txt" in str(exc)
            return
        assert pics.items


lines = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(sorted(KNOWN_EEVSE)), st.sampled_from(["0", "1"])).map(lambda kv: "=".join(kv)),
        st.sampled_from(["", "# comment", "  ", "EEVSE.S=1 # trailing"]),
        st.text(max_size=15),
    ),
    max_size=15,
)


@FAST
@given(body=lines)
def test_pics_text_lines_parse_or_name_their_line(body: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pics.txt"
        path.write_text("\n".join(body), encoding="utf-8", errors="surrogatepass")
        try:
            load_pics(path)
        except ConfigError as exc:
            assert "pics.txt" in str(exc)


@FAST
@given(items=st.dictionaries(st.sampled_from(sorted(KNOWN_EEVSE)), st.booleans(), min_size=1))
def test_pics_text_round_trip(items: dict[str, bool]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pics_text(items, Path(tmp) / "pics.txt")
        assert load_pics(path).items == items


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
RECORD_KEYS = sorted(make_record(1))


@FAST
@given(changes=st.dictionaries(st.sampled_from(RECORD_KEYS), json_values, max_size=4))
def test_any_record_edit_loads_or_is_a_record_error(changes: dict[str, object]) -> None:
    record = {**make_record(1), **changes}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        path.write_text(json.dumps(record), encoding="utf-8")
        try:
            loaded = load_record(path)
        except RecordError as exc:
            assert "report.json" in str(exc)
            return
        assert loaded == json.loads(json.dumps(record))


@FAST
@given(data=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_as_a_record_are_a_record_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        path.write_bytes(data)
        try:
            load_record(path)
        except RecordError as exc:
            assert "report.json" in str(exc)
            return
        raise AssertionError("random bytes were taken for a run record")


@FAST
@given(value=st.text(max_size=30), field=st.sampled_from(["title", "build", "bench", "stimulus"]))
def test_record_round_trip_of_any_text(value: str, field: str) -> None:
    record = make_record(1)
    record[field] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        path.write_text(dumps_record(record), encoding="utf-8", errors="surrogatepass")
        try:
            assert load_record(path)[field] == value
        except RecordError as exc:
            assert "not UTF-8" in str(exc)  # a lone surrogate is no UTF-8
