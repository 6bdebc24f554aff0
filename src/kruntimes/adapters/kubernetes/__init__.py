"""The Kubernetes adapter: CRDs, Pods and the objects a Runtime owns, as plain dicts."""
