"""The scheduling app's pages: the coordinators' console (``console``: the queue,
claiming, assigning, consultations; ``callback``: one callback's page and what a
coordinator does on it) and the pages a person reaches by the signed links in their
emails (``manage``). The supervisor board, refusals, the inbox, calls and staff
phones have their own modules beside this package."""
