"""The original tool's file interface: the job queue, job status, operator requests (``commands/``), the
bulk CSV files, the download report, inventory export and the drop-folder intake. Imports the core, the
machines, the work directory and the device seam; the engine and the CLI use it.
"""
