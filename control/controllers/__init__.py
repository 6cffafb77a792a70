"""The controllers of `pykube controller-manager`, one control loop per module."""
