"""Tools for the real robot: `rrl record-demos` (teleoperated demonstrations) and `rrl check-hardware`."""
