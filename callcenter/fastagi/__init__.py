"""FastAGI for a hospital's own dialplan (issue 15): `identify` the caller into channel variables, `route` the
call into the hotline with the menu choices the dialplan already made. agi.py speaks AGI (through pyst2),
server.py serves the connections, services.py answers, commands.py is `callcenter fastagi listen`."""
