"""ivh-monitor: watches Tencent Cloud IVH assets and exports them to Prometheus."""

__version__ = "0.1.0"
