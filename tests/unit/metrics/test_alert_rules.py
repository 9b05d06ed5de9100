"""The shipped alert rules (prometheus/kubedr-alerts.yml), checked by the real promtool: `check
rules` (syntax, PromQL) and `test rules` (prometheus/tests/: each alert fires when it should and
stays quiet otherwise). A rule changed so that its test no longer holds makes promtool fail."""
import os
import shutil
import subprocess

from metrics_support import REPO, promtool

RULES = os.path.join(REPO, "prometheus", "kubedr-alerts.yml")
RULE_TESTS = os.path.join(REPO, "prometheus", "tests", "kubedr-alerts.test.yml")


def run_promtool(*args, cwd=None):
    proc = subprocess.run([promtool()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, cwd=cwd, check=False)
    return proc.returncode, proc.stdout


def test_check_rules():
    code, output = run_promtool("check", "rules", RULES)
    assert code == 0, output
    assert "SUCCESS: 5 rules found" in output


def test_rule_tests_pass():
    code, output = run_promtool("test", "rules", RULE_TESTS)
    assert code == 0, output
    assert "SUCCESS" in output


def test_rule_tests_fail_when_the_slack_is_gone(tmp_path):
    """Without the slack, KubedrBackupMissing fires before the test expects it: promtool says so."""
    os.makedirs(str(tmp_path / "tests"))
    with open(RULES) as f:
        rules = f.read()
    changed = rules.replace(" + clamp_min(kubedr_schedule_interval_seconds * 0.25, 1800)", "")
    assert changed != rules
    (tmp_path / "kubedr-alerts.yml").write_text(changed)
    shutil.copy(RULE_TESTS, str(tmp_path / "tests"))
    code, output = run_promtool("test", "rules", str(tmp_path / "tests" / "kubedr-alerts.test.yml"))
    assert code != 0
    assert "alertname: KubedrBackupMissing" in output
