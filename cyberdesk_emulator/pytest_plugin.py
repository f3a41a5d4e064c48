"""pytest plugin for the Cyberdesk emulator (fixtures are added as the emulator grows)."""
