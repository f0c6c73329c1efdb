# verify/: sender verification (capmail-verify) lands here with its issue.
