"""Pure-Python recommenders: arrays and frames in, arrays and frames out. No Spark inside."""
