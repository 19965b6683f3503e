from retrain_relay.server import main

raise SystemExit(main())
