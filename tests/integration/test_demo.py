"""`make demo` as a user runs it, twice on the same test bed: the second run reuses the repository password the
first one kept (.testbed/demo/repository-password, mode 0600), so its pod volume backup goes into the repository
the first run made and the files come back both times."""
import os
import stat
import subprocess

import testbed

PASSWORD_FILE = os.path.join(testbed.TESTBED_DIR, "demo", "repository-password")


def make_demo():
    proc = subprocess.run(["make", "-s", "-C", testbed.REPO, "demo"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert "Disaster recovered." in proc.stdout and "MISSING OR DIFFERENT" not in proc.stdout
    return proc.stdout


def test_make_demo_runs_again_on_the_same_test_bed(bed):
    first = make_demo()
    assert os.path.exists(PASSWORD_FILE)
    assert stat.S_IMODE(os.stat(PASSWORD_FILE).st_mode) == 0o600
    with open(PASSWORD_FILE) as f:
        password = f.read().strip()
    assert password and password not in first

    second = make_demo()
    assert "repository password: the one of the first demo run" in second
    with open(PASSWORD_FILE) as f:
        assert f.read().strip() == password
    assert password not in second
