"""Source adapters: each turns one kind of input into landing files the ingest step reads."""
