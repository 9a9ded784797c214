import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

pytest_plugins = ["pierlab.fixtures"]

# The lab needs root, network namespaces and cgroup2. Without them these tests fail (Lab()
# raises); they never skip.
