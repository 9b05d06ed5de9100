"""The text exposition format as Prometheus reads it: checked by the real promtool (`promtool check
metrics` parses it with Prometheus' own parser and lints it), and a seeded property test of the
escaping and of the carry-over of a textfile's gc families."""
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kubedr.backup.plugins.module_utils.metrics import bucket, exposition, families

from metrics_support import promtool


def sample_records():
    backups = [
        bucket.BackupRecord("nightly-20260101020000", "nightly", "Completed", 1000.0, 1180.0, 99999.0, 40, 0, 0, 100),
        bucket.BackupRecord("nightly-20260102020000", "nightly", "PartiallyFailed", 87400.0, 88000.0, 99999.0, 41, 2, 1, 120),
        bucket.BackupRecord("manual", "", "Failed", 90000.0, 90001.0),
    ]
    backups[1].volume_bytes = 4096
    restores = [bucket.RestoreRecord("r1", "nightly-20260101020000", "nightly", "Completed", 95000.0, 95100.0, 3)]
    return backups, restores


def promtool_check(text):
    proc = subprocess.run([promtool(), "check", "metrics"], input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout


def test_promtool_parses_and_lints_every_family_clean():
    backups, restores = sample_records()
    computed = families.location_families(backups, restores, 0, 100000.0) + \
        families.gc_run_families({"kind": "gc", "succeeded": True, "deleted_backups": 1}, 100000.0)
    text = exposition.format_families(computed)
    code, output = promtool_check(text)
    # promtool lints only Velero's own names: gauges that Velero named *_total. They keep Velero's names, so that
    # Velero's dashboards and alerts read them unchanged.
    assert code == 3, output  # 3: lint findings only, no parse error
    assert sorted(output.strip().splitlines()) == sorted(
        '%s non-counter metrics should not have "_total" suffix' % name
        for name in ("velero_backup_items_total", "velero_backup_total", "velero_restore_total")), output
    values = exposition.sample_values(text)
    assert values[("velero_backup_success_total", frozenset([("schedule", "nightly")]))] == 1
    assert values[("velero_backup_duration_seconds_bucket", frozenset([("schedule", "nightly"), ("le", "+Inf")]))] == 2
    assert 'velero_backup_duration_seconds_bucket{le="60",schedule="nightly"} 0' in text


def test_promtool_catches_a_broken_exposition():
    """The check above can fail: a sample before its TYPE line's family is complete, a bad value."""
    code, output = promtool_check("# TYPE x counter\nx{a=\"1\"} one\n")
    assert code != 0 and output


def test_escaping():
    family = families.Family("kubedr_test", families.GAUGE, "help with \\ and\nnewline").add(
        {"schedule": 'a"b\\c\nd'}, 1.5)
    text = exposition.format_family(family)
    assert text.splitlines() == ["# HELP kubedr_test help with \\\\ and\\nnewline", "# TYPE kubedr_test gauge",
                                 'kubedr_test{schedule="a\\"b\\\\c\\nd"} 1.5']
    assert exposition.sample_values(text) == {("kubedr_test", frozenset([("schedule", 'a"b\\c\nd')])): 1.5}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_label_values_and_numbers_read_back(value, number):
    family = families.Family("kubedr_prop", families.GAUGE, "property").add({"schedule": value}, number)
    text = exposition.format_family(family)
    assert exposition.sample_values(text) == {("kubedr_prop", frozenset([("schedule", value)])): float(
        exposition.format_value(number).replace("Inf", "inf"))}
    assert abs(float(exposition.format_value(number)) - number) <= abs(number) * 1e-12


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(families.GC_RUN_FAMILIES + ("velero_backup_total", "kubedr_gc_expired_backups")),
                unique=True), st.lists(st.sampled_from(families.GC_RUN_FAMILIES), unique=True))
def test_carry_over_keeps_exactly_the_missing_carried_families(previous_names, new_names):
    def text_of(names, value):
        return exposition.format_families([families.Family(n, families.GAUGE, "h").add({}, value) for n in names])

    merged = exposition.carry_over(text_of(previous_names, 1), text_of(new_names, 2), set(families.GC_RUN_FAMILIES))
    values = exposition.sample_values(merged)
    for name in new_names:
        assert values[(name, frozenset())] == 2
    for name in previous_names:
        expected = 2 if name in new_names else (1 if name in families.GC_RUN_FAMILIES else None)
        assert values.get((name, frozenset())) == expected
    assert [n for n, _lines in exposition.split_families(merged)].count("kubedr_gc_last_run_success") <= 1
