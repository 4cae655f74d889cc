"""HTTP plumbing: errors and middleware, the gateway, the static web app, metrics."""
