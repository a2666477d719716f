"""Push delivery tests: pyfcm against a local FCM and OAuth stand-in."""
