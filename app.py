"""`python app.py [RUN_DIR]` == `cramgui [RUN_DIR]`."""
from cramgui.app import main

raise SystemExit(main())
