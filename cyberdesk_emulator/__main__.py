"""``python -m cyberdesk_emulator serve ...``."""

from .cli import main

raise SystemExit(main())
