from brainteacher.cli import main

raise SystemExit(main())
