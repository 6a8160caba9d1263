"""HL7 v2 ADT over MLLP (issue 15): message checks, mapping to the shared patient change, ACKs, the
listener, a client, the inbound log console."""
