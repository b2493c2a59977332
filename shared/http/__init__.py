"""What the HTTP edges share: who calls (`auth`), how errors look (`problems`), `/readyz` (`readiness`)."""
