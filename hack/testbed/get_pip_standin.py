"""Stand-in for the get-pip.py bootstrap that ansible-test downloads from a host this
machine cannot reach. ansible-test runs it with pip's arguments (e.g. `pip==24.2
--no-setuptools --no-wheel`) in a fresh virtualenv without pip. Like get-pip.py, it
runs pip from a pip wheel (fetched from PyPI into the same cache by install-deps.sh)
to install the requested packages."""
import glob
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
wheels = sorted(glob.glob(os.path.join(here, "pip-*.whl")))
if not wheels:
    sys.exit("no pip wheel in %s: run hack/testbed/install-deps.sh" % here)
subprocess.check_call([sys.executable, os.path.join(wheels[-1], "pip"), "install", "-q", "--find-links", here] + args)
