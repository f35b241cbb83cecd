"""Campaign pages: the list, one campaign with its runs, and pause/resume/stop."""
