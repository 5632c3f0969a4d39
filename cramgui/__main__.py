from cramgui.app import main

raise SystemExit(main())
