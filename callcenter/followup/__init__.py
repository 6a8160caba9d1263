"""Follow-up (issue 16): questionnaires as versioned data (question bank, skip logic, red flags), the answers
given in them and their export by study. Delivery by phone and console builds on this."""
