"""An example plugin package for playbook: the `change_ticket` step and the `ticket_state` look-up."""
