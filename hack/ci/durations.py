"""Write tests/integration/durations.json from a JUnit report of `make pytest-integration`
(.testbed/integration-junit.xml): seconds per test file, which conftest.py uses to hand the
longest files out first. Usage: python hack/ci/durations.py [junit.xml]"""
import json
import os
import sys
from xml.etree import ElementTree

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seconds_per_file(report_path):
    totals = {}
    for case in ElementTree.parse(report_path).iter("testcase"):
        # classname is the dotted module path, e.g. tests.integration.test_gc (a class may follow).
        parts = case.get("classname", "").split(".")
        module = next((p for p in parts if p.startswith("test_")), None)
        if module:
            name = module + ".py"
            totals[name] = totals.get(name, 0.0) + float(case.get("time") or 0)
    return {name: int(round(value)) for name, value in sorted(totals.items())}


def main(argv):
    report = argv[1] if len(argv) > 1 else os.path.join(REPO, ".testbed", "integration-junit.xml")
    target = os.path.join(REPO, "tests", "integration", "durations.json")
    with open(target, "w") as handle:
        json.dump(seconds_per_file(report), handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("wrote %s" % target)


if __name__ == "__main__":
    main(sys.argv)
