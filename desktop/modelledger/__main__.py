from modelledger.cli import main

raise SystemExit(main())
