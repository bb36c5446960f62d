from odonto_desk.cli import main

raise SystemExit(main())
