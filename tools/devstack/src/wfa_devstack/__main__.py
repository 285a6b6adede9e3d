from wfa_devstack.cli import main

raise SystemExit(main())
