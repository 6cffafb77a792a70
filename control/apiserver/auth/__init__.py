"""Authentication and authorization of API requests: certificates, tokens, identities and the authorizer."""
