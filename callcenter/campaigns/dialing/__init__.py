"""Dialing a campaign's patients: the automated dialer (automated.py) and the progressive one
(progressive.py), the campaign call both make (call.py: dial, AMD, the attempt written), its states
(state.py, with the one CampaignState base; progressive_state.py) and the ARI roles its patient leg enters
under (stasis.py)."""
