import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import testbed  # noqa: E402

testbed.ensure_collection_path()
