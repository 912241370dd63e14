from modelledger.cli.main import main

raise SystemExit(main())
