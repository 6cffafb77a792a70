"""Admission checks that run with each write: LimitRange and ResourceQuota."""
