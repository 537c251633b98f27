"""Superset provisioning over its REST API (dashboards as code, roles) and the BI server's processes."""
