"""Identity and access management: who is calling (accounts, users, roles, sessions) and what
they may do. ``lambent.iam.policy`` is the pure policy evaluation engine; the other modules of
this package hold the IAM domain and its store."""
