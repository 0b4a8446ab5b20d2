"""Identity-provider clients: how the gateway signs users in upstream and keeps their tokens fresh."""
