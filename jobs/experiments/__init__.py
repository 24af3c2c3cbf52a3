"""A/B experiment readouts: the statistics of comparing variants, and a simulator to check them on."""
