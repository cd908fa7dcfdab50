"""The edge to the API server: clients, list-and-watch loops, patches, Events, the hash key."""
