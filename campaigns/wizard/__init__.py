"""The create-campaign page: one step at a time, each saved as a draft.

- ``steps.py``: the steps, and which a user may still change; ``views.py``, ``urls.py``:
  the page; ``forms.py``: the forms of the delivery, webhook, goal and who steps,
  ``what.py``: the what step's (body, pairs, linked content).
- ``actions.py``: the live preview, the test send and publishing, with the sample member
  of ``samples.py``; sending itself is ``campaigns.sending``'s.
"""
