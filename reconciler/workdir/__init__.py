"""The work directory: its layout and location, atomic schema-checked files, the lock, settings and
secrets, logging, and the files the engine reads and writes (desired state, inventory, status records,
plan inputs). Imports the core and the machines only.
"""
