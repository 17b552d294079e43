"""The hub's page "Use AWS from your laptop": a token for that purpose only, and the AWS profile that uses it."""
