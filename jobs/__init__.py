"""Pipeline steps: each reads and writes Delta tables and is callable from the CLI, Airflow and tests."""
