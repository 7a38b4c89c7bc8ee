"""MuJoCo sim twins of the Franka Panda and the WidowX 250 6DOF on a tabletop."""
