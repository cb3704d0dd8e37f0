import sys

from sigma_video.cli import main

sys.exit(main())
