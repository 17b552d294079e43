"""A local Microsoft Entra ID (v2.0) and Microsoft Graph for development and tests; see README.md here."""
