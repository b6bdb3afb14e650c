"""Device runners: one module per kind of device, all speaking the runner contract.

This package never imports `harness`; the harness imports the contract from here.
"""
