"""The seam to PAN-OS: the only package that imports pan-os-python and panos-upgrade-assurance.

``client`` (Panorama and firewall clients, retries, error translation), ``parsers`` (XML answers to
values), ``discovery`` (Panorama to inventory), ``readiness`` (pre-upgrade checks) and ``observe`` (device
answers as the machine's observations). Imports the core, the machines and the work directory (settings,
logging), nothing above them.
"""
