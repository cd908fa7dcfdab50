"""HTTP endpoints a platform expects from a controller: health probes and Prometheus metrics."""
