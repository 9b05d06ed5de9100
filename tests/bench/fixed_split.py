"""The backup's time split into what does not depend on the items and the main pass (issue 18 item 3).

Each backup round of `make bench` also runs, right after the module's backup:

- the same module on a selection that matches no namespace (``backup_fixed_s``): the interpreter, the imports,
  the S3 client, the S3 round trips, discovery and the uploads of a run with nothing to list or archive;
- the floor every Ansible module in Python pays before it reads its arguments (``module_floor_s``): an
  interpreter importing ``ansible.module_utils.basic``, as the module's process does first.

From these, per round: the main pass's rate (the backup's items over its seconds less the empty run's) against
that round's raw LIST, and the best whole-run ratio any module could reach at this size (``backup_ratio_bound``):
one that paid only the floor and listed at the raw LIST's own rate.
"""
import subprocess
import sys
import time

import testbed

FLOOR_CODE = "from ansible.module_utils.basic import AnsibleModule"


def floor_seconds():
    """Wall seconds of an interpreter that imports AnsibleModule and exits (bytecode cached, as the module runs)."""
    started = time.time()
    subprocess.run([sys.executable, "-c", FLOOR_CODE], check=True, env=testbed.module_env())
    return time.time() - started


def main_pass_ratio(items, seconds, empty_seconds, list_rate):
    """(items/s of the main pass, its ratio to the raw LIST's items/s) of one round."""
    rate = items / max(1e-6, seconds - empty_seconds)
    return rate, rate / list_rate


def ratio_bound(items, floor, list_rate):
    """The whole-run ratio of a module that paid only ``floor`` seconds and listed ``items`` at the raw LIST's rate."""
    return items / (floor + items / list_rate) / list_rate


def report_fields(items, rounds, median):
    """bench-results.json's keys from each round's (raw LIST items/s, backup s, empty backup s, floor s)."""
    mains = [main_pass_ratio(items, secs, empty, rate) for rate, secs, empty, _floor in rounds]
    return {
        "backup_fixed_s": round(median([empty for _r, _s, empty, _f in rounds]), 3),
        "backup_fixed_rounds_s": [round(empty, 3) for _r, _s, empty, _f in rounds],
        "module_floor_s": round(median([floor for _r, _s, _e, floor in rounds]), 3),
        "backup_main_pass_per_s": round(median([rate for rate, _ratio in mains]), 1),
        "backup_main_pass_ratio": round(median([ratio for _rate, ratio in mains]), 3),
        "backup_main_pass_round_ratios": [round(ratio, 3) for _rate, ratio in mains],
        "backup_ratio_bound": round(median([ratio_bound(items, floor, rate) for rate, _s, _e, floor in rounds]), 3),
    }
