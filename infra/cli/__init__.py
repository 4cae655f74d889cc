"""The `photoshare` command line: embedded and operator commands, cluster roles."""
