"""What the apps share about live sockets: group names, the one publisher of room events and
control events, and the revocation marker. It knows nothing of any app; `accounts` and `chat`
both use it, and `chat` registers how its sockets catch up when a publish fails."""
