"""The daemon's core: config, secrets, providers, tools, approvals, sessions, agent loop."""
