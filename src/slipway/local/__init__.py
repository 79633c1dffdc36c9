"""The embedded default: the platform's servers as local processes on loopback."""
