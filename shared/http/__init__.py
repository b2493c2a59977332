"""What the HTTP edges share: who calls (`auth`), how errors look (`problems`), `/readyz`
(`readiness`), and `/metrics` on a listener of its own (`metrics_listener`)."""
