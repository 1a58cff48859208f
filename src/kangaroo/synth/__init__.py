"""The procedural video world: scenes of moving shapes with exact ground truth, rendered to real
video files, and task generators that turn scenes into training and evaluation records."""
