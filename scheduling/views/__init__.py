"""The scheduling app's pages: the coordinators' console (``console``) and the pages
a person reaches by the signed links in their emails (``manage``). The supervisor
board, refusals and staff phones have their own modules beside this package."""
