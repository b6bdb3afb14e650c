"""Phones as they behave, for the simulated devices: clusters, a governor, heat and throttling,
sessions that differ, background work, a battery that drains or charges (model.py, with the
phones in profiles.yaml). The adb simulator and the iOS stand-ins report what the model says."""

from .model import (
    DT,
    Inputs,
    PhoneModel,
    Profile,
    SustainedTruth,
    load_profiles,
    profile,
    sustained_truth,
)

__all__ = ["DT", "Inputs", "PhoneModel", "Profile", "SustainedTruth", "load_profiles", "profile",
           "sustained_truth"]
