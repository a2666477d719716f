"""Stand-ins for outside services (a real HTTP server for FCM and Google OAuth)."""
