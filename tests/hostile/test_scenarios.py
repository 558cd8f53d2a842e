"""Scenario files and the prompt sets they name: validated completely, cheaply and boundedly.

Each case is a file a hostile (or careless) user could write; each is refused with one line naming the file,
the line where it is known and the field, in bounded time and output, before anything is loaded.
"""

from __future__ import annotations

import tracemalloc

import pytest

from tests.hostile.conftest import SCENARIO, fifo, refused, write


@pytest.fixture
def scenario_with(work):
    def make(extra: str, name: str = "s.yaml"):
        return write(work / name, SCENARIO + extra)

    return make


# --- what a file is ------------------------------------------------------------------------------------


def test_latin1_scenario(kb, work):
    path = write(work / "s.yaml", SCENARIO.replace("hostile", "caf\xe9").encode("latin-1"))
    refused(kb("validate", path), "s.yaml: scenario file is not UTF-8 text (byte 0xe9")


def test_binary_scenario(kb, work):
    path = write(work / "s.yaml", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    refused(kb("validate", path), "s.yaml: scenario file is binary")


def test_scenario_is_a_fifo(kb, work):
    refused(kb("validate", fifo(work / "s.yaml")), "s.yaml: is a FIFO (named pipe), not a scenario file")


def test_scenario_is_dev_zero(kb):
    refused(kb("run", "/dev/zero", "--dry-run"), "/dev/zero: is a character device, not a scenario file")


def test_scenario_is_a_folder(kb, work):
    (work / "dir.yaml").mkdir()
    refused(kb("validate", "dir.yaml"), "dir.yaml: is a directory, not a scenario file")


def test_oversized_scenario(kb, work):
    path = write(work / "s.yaml", SCENARIO + "#" + "x" * (1024 * 1024) + "\n")
    refused(kb("validate", path), "s.yaml: scenario file is 1,048,", "the limit is 1,048,576")


# --- what YAML can do ----------------------------------------------------------------------------------


LAUGHS = "".join(
    f"{k}: &{k} [{', '.join(['*' + prev] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, k in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)


def test_billion_laughs_is_refused_small(kb, work):
    path = write(work / "s.yaml", LAUGHS + "scenarios: [*i]\n")
    assert path.stat().st_size < 500  # 9**9 = 387,420,489 strings once expanded
    kb("validate", write(work / "warm.yaml", "scenarios: 1\n"))  # the modules are imported before the count
    tracemalloc.start()
    try:
        line = refused(kb("validate", path), "s.yaml:", "aliases expand this document past")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(line) < 300
    assert peak < 20 * 1024 * 1024  # bytes allocated at the peak: the aliases were never walked out


def test_recursive_alias(kb, work):
    path = write(work / "s.yaml", "scenarios: &s [*s]\n")
    refused(kb("validate", path), "s.yaml:1: not valid YAML (an alias refers to a node that contains it")


def test_deep_nesting(kb, work):
    path = write(work / "s.yaml", "scenarios: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(kb("validate", path), "s.yaml:1: not valid YAML (nested deeper than 64 levels)")


def test_duplicate_key_in_a_scenario(kb, scenario_with):
    path = scenario_with("    steps: 4\n")  # SCENARIO already says steps: 2
    refused(kb("validate", path), "s.yaml:12: not valid YAML (key 'steps' is given twice")


def test_python_object_tag(kb, work):
    path = write(work / "s.yaml", "!!python/object/apply:os.system ['touch pwned']\n")
    refused(kb("validate", path), "s.yaml:1: not valid YAML")
    assert not (work / "pwned").exists()


def test_an_explicit_tag_with_a_bad_value(kb, scenario_with):
    refused(kb("validate", scenario_with("    seed: !!int twelve\n")), "s.yaml: not valid YAML (a value cannot be read")


def test_an_integer_of_ten_thousand_digits(kb, scenario_with):
    refused(kb("validate", scenario_with("    seed: " + "9" * 10_000 + "\n")), "s.yaml: not valid YAML")


def test_two_documents(kb, work):
    path = write(work / "s.yaml", SCENARIO + "---\n" + SCENARIO)
    refused(kb("validate", path), "s.yaml:", "not valid YAML")


def test_a_name_that_looks_like_an_impossible_date_is_just_a_name(kb, work):
    """``2024-13-45`` once crashed the timestamp constructor; it is a plain string to the schema now."""
    path = write(work / "s.yaml", SCENARIO.replace("name: hostile", "name: 2024-13-45"))
    outcome = kb("run", path, "--dry-run")
    assert outcome.code == 0, outcome.err
    assert "1 run(s)" in outcome.out


# --- exclude: entries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("{resolution: banana}", "exclude[0].resolution: must be WIDTHxHEIGHT"),
        ("{steps: many}", "exclude[0].steps: Input should be a valid integer"),
        ("{model: [kandinsky-3, sdxl-base]}", "exclude[0].model: Input should be a valid string"),
        ("{dtype: fp8}", "exclude[0].dtype:"),
        ("{refiner: maybe}", "exclude[0].refiner:"),
        ("{colour: red}", "exclude[0]: keys must be among"),
        ("5", "exclude[0]: Input should be a valid dictionary"),
    ],
)
def test_malformed_exclude_entries(kb, scenario_with, entry, needle):
    refused(kb("validate", scenario_with(f"    exclude: [{entry}]\n")), "s.yaml:12: scenario 'hostile'", needle)


# --- values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    mix_weights: [.nan, 1]\n", "mix_weights[0]: must be a finite number"),
        ("    max_time_s: .inf\n", "max_time_s: must be a finite number"),
        ("    guidance_scale: .nan\n", "guidance_scale: must be a finite number"),
        ("    memory_limit_mb: 1.0e+30\n", "memory_limit_mb:"),
        ("    target_ci: -.inf\n", "target_ci: must be a finite number"),
    ],
)
def test_non_finite_and_absurd_numbers(kb, scenario_with, extra, field):
    refused(kb("validate", scenario_with(extra)), "s.yaml:12: scenario 'hostile'", field)


def test_a_huge_value_is_cut_in_the_message(kb, work):
    path = write(work / "s.yaml", SCENARIO.replace("[kandinsky-2.2]", "[" + "k" * 100_000 + "]"))
    line = refused(kb("validate", path), "s.yaml:3:", "unknown model", "(100,000 chars)")
    assert len(line) < 800


def test_a_matrix_past_the_limit_is_refused_with_its_count(kb, scenario_with):
    hundred = ", ".join(map(str, range(1, 101)))
    path = scenario_with(f"    batch_sizes: [{hundred}]\n    images_per_prompt: [{hundred}]\n    languages: [en, ru]\n")
    assert path.stat().st_size < 2000  # a small file that stands for 20,000 runs
    refused(kb("validate", path), "s.yaml:2: scenario 'hostile'", "20,000 runs", "limit of 10,000", "--max-runs N")


def test_max_runs_raises_and_lowers_the_limit(kb, scenario_with):
    path = scenario_with("    languages: [en, ru, zh, de]\n")
    refused(kb("validate", path, "--max-runs", "3"), "4 runs", "over the limit of 3")
    outcome = kb("validate", path, "--max-runs", "4")
    assert outcome.code == 0 and "4 run(s)" in outcome.out


# --- prompt_set ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.txt", "missing.txt: cannot read prompt set file (No such file or directory)"),
        (lambda d: (d / "pdir").mkdir() or d / "pdir", "pdir: is a directory, not a prompt set file"),
        (lambda d: write(d / "p.bin", b"\0\1\2binary"), "p.bin: prompt set file is binary"),
        (lambda d: write(d / "p.txt", "caf\xe9\n".encode("latin-1")), "p.txt: prompt set file is not UTF-8 text"),
        (lambda d: fifo(d / "p.fifo"), "p.fifo: is a FIFO (named pipe), not a prompt set file"),
        (lambda d: write(d / "p.txt", "# only a comment\n\n"), "holds no prompts"),
        (lambda d: write(d / "p.txt", "x" * (1024 * 1024 + 1)), "prompt set file is 1,048,577 bytes"),
    ],
    ids=["missing", "folder", "binary", "latin1", "fifo", "empty", "oversized"],
)
def test_bad_prompt_sets_fail_at_validation(kb, work, scenario_with, make, needle):
    prompts = make(work)
    path = scenario_with(f"    prompt_set: {prompts}\n")
    refused(kb("validate", path), "s.yaml:12: scenario 'hostile': prompt_set:", needle)


def test_dev_zero_as_a_prompt_set(kb, scenario_with):
    refused(kb("validate", scenario_with("    prompt_set: /dev/zero\n")), "/dev/zero: is a character device")


def test_one_prior_step_is_refused_before_any_run(kb, work):
    """The 2.x priors' scheduler spaces its timesteps by ``steps - 1``: one step once passed validation, then
    failed at run time with a ZeroDivisionError."""
    path = write(work / "s.yaml", SCENARIO.replace("prior_steps: 2", "prior_steps: 1"))
    refused(kb("validate", path), "s.yaml", "prior_steps", "greater than or equal to 2")


@pytest.mark.parametrize("address", ["nonsense", "host:99999", "ray://", "a b:1", "http://h:1", "h:0", "h:1\nx"])
def test_a_ray_address_ray_cannot_use_is_one_line_before_any_run(kb, work, scenario, address):
    refused(kb("run", scenario, "--executor", "ray", "--ray-address", address, "-o", "r.jsonl"), "--ray-address")


def test_the_ray_address_forms_ray_takes_pass():
    from bench.measure.executors import check_ray_address

    for address in ("auto", "127.0.0.1:6379", "ray://head.example:10001", "[::1]:6379"):
        assert check_ray_address(address) == address
