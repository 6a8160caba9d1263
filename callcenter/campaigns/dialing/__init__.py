"""Dialing a campaign's patients: the automated dialer and its flavour (automated.py), the progressive ones
(progressive.py), the part both flavours hold (call.py: `PatientDial`: dial, AMD, the attempt written), the
states (state.py, with the one CampaignState base; progressive_state.py) and the ARI roles the patient leg
enters under (stasis.py)."""
