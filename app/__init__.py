"""ci-fix-loop: a GitHub App that repairs failing CI (see README, "How the code is laid out")."""
