"""The Lab tab: a patient's lab and appliance cases (``tab.py``) and the new-case form (``form.py``)."""
