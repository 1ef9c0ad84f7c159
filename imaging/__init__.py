"""Untrusted pictures, decoded within memory bounds: shared by avatars and chat attachments."""
