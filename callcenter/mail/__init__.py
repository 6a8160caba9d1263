"""The complaints mailbox (issue 17): patients' emails read over IMAP become tickets, replies join them."""
