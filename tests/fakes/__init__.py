"""The test doubles: one fake GitHub, a fake model API, scripted agents."""
