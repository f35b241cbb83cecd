"""What a webhook campaign sends: profile-variables payloads and Liquid custom bodies.

Pure functions over plain Python data (no models), so the campaign page's preview and the
sender build bodies the same way and the tests need no database.
"""
