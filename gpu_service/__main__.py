"""``python -m gpu_service``: the GPU worker, configured by environment variables (:mod:`gpu_service.entry`)."""

import sys

from gpu_service.entry import main

if __name__ == "__main__":
    sys.exit(main())
