from __future__ import annotations

import pytest

from bench.compare.thresholds import (
    DEFAULT_THRESHOLDS,
    Threshold,
    ThresholdError,
    build_thresholds,
    load_thresholds_file,
    parse_threshold,
)

K3 = "kandinsky-3|text2img|1024x1024|s25|b1x1|fp16|none|random|cuda|en"
K22 = "kandinsky-2.2|text2img|768x768|s30|b1x1|fp16|none|random|cuda|en"


@pytest.mark.parametrize(
    ("text", "metric", "kind", "value", "scope"),
    [
        ("median:5%", "median", "percent", 0.05, "*"),
        ("median:7.5%", "median", "percent", 0.075, "*"),
        ("vram:256MB", "vram", "mb", 256.0, "*"),
        ("vram:256mb", "vram", "mb", 256.0, "*"),
        ("vram:2GB", "vram", "mb", 2048.0, "*"),
        ("vram:3%", "vram", "percent", 0.03, "*"),
        ("energy:5%", "energy", "percent", 0.05, "*"),
        ("rss:off", "rss", "off", 0.0, "*"),
        ("kandinsky-3|*:median:8%", "median", "percent", 0.08, "kandinsky-3|*"),
        ("smoke:vram:OFF", "vram", "off", 0.0, "smoke"),
    ],
)
def test_parse_threshold(text, metric, kind, value, scope):
    t = parse_threshold(text)
    assert (t.metric, t.kind, t.scope) == (metric, kind, scope)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("median", "METRIC:VALUE"),
        ("p50:5%", "unknown metric 'p50'"),
        ("median:5MB", "wrong unit"),
        ("energy:10MB", "wrong unit"),
        ("median:fast", "not a threshold"),
        ("vram:-3%", "not a threshold"),
        ("median:", "METRIC:VALUE"),
        ("median:5000%", "out of range"),
    ],
)
def test_parse_threshold_rejects_bad_input(text, fragment):
    with pytest.raises(ThresholdError, match=fragment) as err:
        parse_threshold(text)
    assert err.value.exit_code == 2


def test_str_round_trips():
    for text in ("median:5%", "vram:256MB", "kandinsky-3|*:energy:12.5%", "rss:off"):
        assert str(parse_threshold(text)) == text


def test_limits_percent_and_mb():
    pct = Threshold("median", "percent", 0.05)
    assert not pct.limit_exceeded(1.0, 1.05)  # exactly at the limit is allowed
    assert pct.limit_exceeded(1.0, 1.051)
    assert pct.limit_improved(1.0, 0.95)  # 0.95 * 1.05 = 0.9975 < 1
    assert not pct.limit_improved(1.0, 0.96)  # 0.96 * 1.05 = 1.008
    mb = Threshold("vram", "mb", 64.0)
    assert not mb.limit_exceeded(9000.0, 9064.0)
    assert mb.limit_exceeded(9000.0, 9064.5)
    assert mb.limit_improved(9000.0, 8935.0)
    off = Threshold("vram", "off", 0.0)
    assert not off.limit_exceeded(1.0, 1e9)


def test_defaults_and_last_matching_rule_wins():
    rules = build_thresholds(["median:4%", "kandinsky-3|*:median:8%", "k22-768:vram:off"])
    k3 = rules.for_run(K3, "k3-1024")
    assert k3["median"].value == pytest.approx(0.08)
    assert k3["vram"] == Threshold("vram", "mb", 64.0)  # default
    k22 = rules.for_run(K22, "k22-768")
    assert k22["median"].value == pytest.approx(0.04)
    assert not k22["vram"].enabled
    assert DEFAULT_THRESHOLDS.for_run(K22)["rss"].value == pytest.approx(0.10)
    assert DEFAULT_THRESHOLDS.for_run(K22)["energy"].value == pytest.approx(0.05)


def test_yaml_file_then_options(tmp_path):
    f = tmp_path / "thresholds.yaml"
    f.write_text(
        "defaults:\n  median: 6%\n  vram: 128MB\n"
        "runs:\n  'kandinsky-3|*':\n    median: 10%\n    vram: 2%\n  k22-768:\n    rss: off\n",
        encoding="utf-8",
    )
    assert len(load_thresholds_file(f)) == 5
    rules = build_thresholds(["kandinsky-3|*:vram:1GB"], [f])
    k3 = rules.for_run(K3, "k3-1024")
    assert k3["median"].value == pytest.approx(0.10)
    assert (k3["vram"].kind, k3["vram"].value) == ("mb", 1024.0)  # the option comes after the file
    k22 = rules.for_run(K22, "k22-768")
    assert k22["median"].value == pytest.approx(0.06)
    assert (k22["vram"].kind, k22["vram"].value) == ("mb", 128.0)
    assert not k22["rss"].enabled


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- median: 5%\n", "top level must be a mapping"),
        ("default:\n  median: 5%\n", "unknown key(s) default"),
        ("defaults:\n  p50: 5%\n", "defaults: unknown metric 'p50'"),
        ("runs:\n  smoke: 5%\n", "runs.smoke: must map a metric"),
        ("defaults:\n  vram: lots\n", "not a threshold"),
        ("defaults: [\n", "not valid YAML"),
    ],
)
def test_yaml_file_errors_name_file_and_field(tmp_path, text, fragment):
    f = tmp_path / "t.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdError) as err:
        load_thresholds_file(f)
    assert str(f) in str(err.value)
    assert fragment in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ThresholdError, match="cannot read thresholds file"):
        load_thresholds_file(tmp_path / "nope.yaml")


def test_empty_file_means_defaults(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("", encoding="utf-8")
    assert build_thresholds([], [f]) == DEFAULT_THRESHOLDS
