"""``python -I -S path/to/monitor <hex-config>``: the monitor as a script.
Python puts this directory first on sys.path; the package's parent goes last
instead, so that ``monitor`` is the package and nothing beside it shadows the
stdlib."""

import sys

sys.path.append(sys.path.pop(0).rpartition("/")[0] or ".")
import monitor  # noqa: E402  (the path above first)

monitor.main()
